"""HTML pages of image grids: a sortable table whose cells hold a caption and an image, sized to the window."""

import html
import math

from .fileio import save_text
from .images import encode_data_uri

# Images are drawn at most `image_size` wide and shrink so that a row (and a 10em label column) fits the window.
_STYLE = """<style>
  body { font-family: sans-serif; margin: 8px; }
  table { border-spacing: 0; border: 1px solid black; }
  th { cursor: pointer; font-size: 85%%; overflow-wrap: anywhere; }
  th, td { text-align: left; vertical-align: middle; border: 0.5px solid black; padding: 4px; }
  tr:nth-child(even) { background-color: #d2d2d2; }
  td.highlight { background-color: #ffe08a; }
  img { display: block; height: auto; width: %(width)s; }
</style>"""

_SCRIPT = """<script type="text/javascript">
var ascending = false;
function sortBy(column) {
  var tbody = document.getElementById('tbody');
  Array.from(tbody.rows).sort(function (a, b) {
    var x = a.cells[column].innerText, y = b.cells[column].innerText;
    return (ascending ? 1 : -1) * (x > y ? 1 : -1);
  }).forEach(function (row) { tbody.appendChild(row); });
  ascending = !ascending;
}
</script>"""


class HtmlPage:
    """A table of cells, each with text and an optional image of at most `image_size` pixels a side (None: full)."""

    def __init__(self, num_rows=0, num_cols=0, grid_size=0, title='', image_size=None):
        if grid_size > 0:  # a near-square grid, at least as many rows as columns, as the original pages
            num_cols = math.isqrt(grid_size)
            while grid_size % num_cols:
                num_cols -= 1
            num_rows = grid_size // num_cols
        self.num_cols = num_cols
        self.title = title
        self.image_size = image_size
        self.notes = []
        self.headers = [''] * num_cols
        self.cells = [['  <td></td>'] * num_cols for _ in range(num_rows)]  # each cell as its HTML
        self._image_columns = set()
        self._widest = 0  # the largest image, in pixels

    def set_headers(self, headers):
        assert len(headers) == self.num_cols
        self.headers = [str(h) for h in headers]

    def add_note(self, *lines):
        """Lines of text shown above the table (settings used, warnings)."""
        self.notes += [str(line) for line in lines]

    def set_cell(self, row, col, text='', image=None, highlight=False):
        """Set a cell; `text` may hold line breaks; `image` is uint8 `[H, W, C]` (RGB) or None."""
        text = html.escape(str(text))
        body = text.replace('\n', '<br>')
        if image is not None:
            uri = encode_data_uri(image, min(self.image_size or image.shape[1], image.shape[1]))
            body += f'<br><img src="{uri}" alt="{text}"/>'
            self._widest = max(self._widest, self.image_size or image.shape[1])
            self._image_columns.add(col)
        css = ' class="highlight"' if highlight else ''
        self.cells[row][col] = f'  <td{css}>{body}</td>'

    def render(self):
        columns = len(self._image_columns) or 1
        style = _STYLE % {'width': f'min({self._widest}px, calc((100vw - 10em) / {columns} - 10px))'}
        lines = ['<!DOCTYPE html>', '<html>', '<head>', '<meta charset="utf-8">',
                 '<meta name="viewport" content="width=device-width, initial-scale=1">',
                 f'<title>{html.escape(self.title)}</title>', style, _SCRIPT, '</head>', '<body>']
        if self.title:
            lines.append(f'<h2>{html.escape(self.title)}</h2>')
        lines += [f'<p class="note">{html.escape(note)}</p>' for note in self.notes]
        lines.append('<table>')
        if any(self.headers):
            lines += ['<thead>', '<tr>']
            lines += [f'  <th onclick="sortBy({i})">{html.escape(h)}</th>' for i, h in enumerate(self.headers)]
            lines += ['</tr>', '</thead>']
        lines.append('<tbody id="tbody">')
        for row in self.cells:
            lines += ['<tr>', *row, '</tr>']
        lines += ['</tbody>', '</table>', '</body>', '</html>', '']
        return '\n'.join(lines)

    def save(self, path):
        save_text(path, self.render())
