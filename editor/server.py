"""The editor's HTTP server: the standard library's threading server, one static page, a JSON API.

Each route of `ROUTES` names the parser of its request (`editor.parse`) and the session's method that
answers it; the API is documented in `docs/interface.md`. Only the page's own files are served, request
bodies have a size limit, and every error becomes, here and nowhere else, a 4xx or 5xx answer with a
one-line JSON message; the server keeps running.
"""

import http.server
import json
import os
import re
import socketserver
import urllib.parse

from . import parse
from .parse import RequestError, fail, need
from .session import Editor, File

__all__ = ['make_server', 'ROUTES', 'STATIC_DIR']

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
MAX_BODY_BYTES = 16 * 2 ** 20
CONTENT_TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
                 '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml'}
FILE_BODIES = ('/api/upload', '/api/invert')  # their body is a file, their fields are in the query

ROUTES = {  # (method, path): (the parser of the request, what answers it)
    ('GET', '/api/info'): (None, Editor.info),
    ('POST', '/api/sefa'): (parse.sefa, Editor.factorize),
    ('POST', '/api/render'): (parse.state, Editor.render),
    ('POST', '/api/upload'): (parse.upload, lambda editor, codes: editor.add_codes(*codes)),
    ('POST', '/api/jacobian'): (parse.sample, Editor.start_jacobian),
    ('GET', '/api/jacobian'): (parse.task_id, lambda editor, i: editor.task(i, 'Jacobian').describe()),
    ('POST', '/api/jacobian/cancel'): (parse.task_id, lambda editor, i: editor.task(i, 'Jacobian').cancel()),
    ('POST', '/api/region'): (parse.region, Editor.region_directions),
    ('POST', '/api/invert'): (parse.projection, Editor.start_inversion),
    ('GET', '/api/invert'): (parse.task_id, lambda editor, i: editor.task(i, 'projection').describe()),
    ('POST', '/api/invert/cancel'): (parse.task_id, lambda editor, i: editor.task(i, 'projection').cancel()),
    ('POST', '/api/export/image'): (parse.state, Editor.export_image),
    ('POST', '/api/export/gif'): (parse.gif, Editor.export_gif),
    ('POST', '/api/export/code'): (parse.state, Editor.export_code),
    ('POST', '/api/export/edit'): (parse.state, Editor.export_edit),
}


def _static_files():
    """{name: path} of the page's files: the only files the server will send."""
    names = sorted(os.listdir(STATIC_DIR)) if os.path.isdir(STATIC_DIR) else []
    return {name: os.path.join(STATIC_DIR, name) for name in names
            if os.path.splitext(name)[1] in CONTENT_TYPES and os.path.isfile(os.path.join(STATIC_DIR, name))}


class Handler(http.server.BaseHTTPRequestHandler):
    """One request: find its route, parse it, answer; errors become JSON messages."""

    server_version = 'gansemantics-editor'
    editor = None   # set by make_server
    static = {}     # set by make_server
    quiet = True

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        for key, value in {'Content-Type': content_type, 'Content-Length': str(len(body)),
                           'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - the standard library's name
        if not self.quiet:
            super().log_message(format, *args)

    def _fields(self, method, path, query):
        """`(fields, raw body)`: the fields are the query of a GET or of a file's upload, else the JSON body."""
        raw = b''
        if method == 'POST':
            length = self.headers.get('Content-Length') or ''
            need(length.isdigit(), 'Content-Length', 'is missing', 411)
            need(int(length) <= MAX_BODY_BYTES, 'body', f'is larger than {MAX_BODY_BYTES >> 20} MB', 413)
            raw = self.rfile.read(int(length))
        if method == 'GET' or path in FILE_BODIES:
            return {k: int(v[-1]) if re.fullmatch(r'-?\d{1,18}', v[-1]) else v[-1] for k, v in query.items()}, raw
        try:
            fields = json.loads(raw.decode('utf-8')) if raw else {}
        except (UnicodeDecodeError, ValueError, RecursionError):
            fail('body', 'is not JSON')
        need(isinstance(fields, dict), 'body', 'must be a JSON object')
        return fields, raw

    def _answer(self, method, url):
        if (method, url.path) in ROUTES:
            parser, action = ROUTES[method, url.path]
            fields, raw = self._fields(method, url.path, urllib.parse.parse_qs(url.query))
            answer = action(self.editor, parser(fields, self.editor, raw)) if parser else action(self.editor)
            if not isinstance(answer, File):
                return self._send(200, json.dumps(answer).encode(), 'application/json')
            download = {'Content-Disposition': f'attachment; filename="{answer.name}"'} if answer.name else {}
            return self._send(200, answer.data, answer.content_type, {**answer.headers, **download})
        if method in ('GET', 'HEAD') and (url.path == '/' or url.path.startswith('/static/')):
            name = 'index.html' if url.path == '/' else urllib.parse.unquote(url.path[len('/static/'):])
            need(name in self.static, 'path', f'no such file: {name}', 404)
            with open(self.static[name], 'rb') as file:
                return self._send(200, file.read(), CONTENT_TYPES[os.path.splitext(name)[1]])
        if any(path == url.path for _, path in ROUTES):
            fail('path', f'{method} is not allowed on {url.path}', 405)
        fail('path', f'no such page or endpoint: {url.path}', 404)

    def _dispatch(self, method):
        try:
            self._answer(method, urllib.parse.urlsplit(self.path))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away (a newer request replaced this one)
        except Exception as error:  # the server keeps running; the page gets one line
            status, text = (error.status, str(error)) if isinstance(error, RequestError) else \
                (500, f'{type(error).__name__}: {error}')
            self._send(status, json.dumps({'error': ' '.join(text.split())[:500]}).encode(), 'application/json')

    def do_GET(self):  # noqa: N802 - the standard library's name
        self._dispatch('GET')

    def do_HEAD(self):  # noqa: N802
        self._dispatch('HEAD')

    def do_POST(self):  # noqa: N802
        self._dispatch('POST')


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(editor, host='127.0.0.1', port=8000, quiet=True):
    """A server (not yet serving) of `editor` on `host:port` (port 0: a free one)."""
    handler = type('EditorHandler', (Handler,), {'editor': editor, 'static': _static_files(), 'quiet': quiet})
    return Server((host, port), handler)
