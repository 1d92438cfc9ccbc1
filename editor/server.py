"""The editor's HTTP server: the standard library's threading server, one static page, a JSON API.

Routes are listed in `ROUTES` (the API is documented in `docs/interface.md`).
Only the page's own files are served, by name from a fixed list; request
bodies have size limits; every error is answered with a 4xx or 5xx and a
one-line JSON message, and the server keeps running.
"""

import http.server
import json
import os
import socketserver
import urllib.parse

from .session import MAX_UPLOAD_BYTES, InversionTask, RequestError

__all__ = ['make_server', 'STATIC_DIR']

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
MAX_JSON_BYTES = 2 ** 20
CONTENT_TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
                 '.css': 'text/css; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml'}


def _static_files():
    """{name: path} of the page's files: the only files the server will send."""
    if not os.path.isdir(STATIC_DIR):
        return {}
    return {name: os.path.join(STATIC_DIR, name) for name in sorted(os.listdir(STATIC_DIR))
            if os.path.splitext(name)[1] in CONTENT_TYPES and os.path.isfile(os.path.join(STATIC_DIR, name))}


def _size(count):
    return f'{count // 2 ** 20} MB' if count >= 2 ** 20 else f'{count // 1024} KB'


class Handler(http.server.BaseHTTPRequestHandler):
    """One request: find its route, run it, answer; errors become JSON messages."""

    server_version = 'gansemantics-editor'
    editor = None   # set by make_server
    static = {}     # set by make_server
    quiet = True

    # ------------------------------------------------------------------------
    # Answers.

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.send_header('X-Content-Type-Options', 'nosniff')
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _json(self, data, status=200):
        self._send(status, json.dumps(data).encode(), 'application/json')

    def _error(self, status, message):
        self._json({'error': ' '.join(str(message).split())[:500]}, status)

    def _download(self, data, name, content_type):
        self._send(200, data, content_type, {'Content-Disposition': f'attachment; filename="{name}"'})

    def log_message(self, format, *args):  # noqa: A002 - the standard library's name
        if not self.quiet:
            super().log_message(format, *args)

    # ------------------------------------------------------------------------
    # Requests.

    def _body(self, limit):
        length = self.headers.get('Content-Length')
        if length is None or not length.isdigit():
            raise RequestError('the request needs a Content-Length', 411)
        if int(length) > limit:
            raise RequestError(f'the request body is larger than {_size(limit)}', 413)
        return self.rfile.read(int(length))

    def _json_body(self):
        data = self._body(MAX_JSON_BYTES)
        try:
            return json.loads(data.decode('utf-8')) if data else {}
        except (UnicodeDecodeError, ValueError):
            raise RequestError('the request body is not JSON') from None

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        route = ROUTES.get((method, url.path))
        try:
            if route is not None:
                route(self, urllib.parse.parse_qs(url.query))
            elif method in ('GET', 'HEAD') and url.path.startswith('/static/'):
                self._static(url.path[len('/static/'):])
            elif any(path == url.path for _, path in ROUTES):
                raise RequestError(f'{method} is not allowed on {url.path}', 405)
            else:
                raise RequestError(f'no such page or endpoint: {url.path}', 404)
        except RequestError as error:
            self._error(error.status, error)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away (a newer request replaced this one)
        except Exception as error:  # the server keeps running; the page gets one line
            self._error(500, f'{type(error).__name__}: {error}')

    def do_GET(self):  # noqa: N802 - the standard library's name
        self._dispatch('GET')

    def do_HEAD(self):  # noqa: N802
        self._dispatch('HEAD')

    def do_POST(self):  # noqa: N802
        self._dispatch('POST')

    # ------------------------------------------------------------------------
    # Routes.

    def _static(self, name):
        path = self.static.get(urllib.parse.unquote(name))
        if path is None:
            raise RequestError(f'no such file: {name}', 404)
        with open(path, 'rb') as file:
            self._send(200, file.read(), CONTENT_TYPES[os.path.splitext(path)[1]])

    def _page(self, query):
        self._static('index.html')

    def _info(self, query):
        self._json(self.editor.info())

    def _sefa(self, query):
        self._json(self.editor.factorize(self._json_body()))

    def _render(self, query):
        data, ms = self.editor.render(self._json_body())
        self._send(200, data, 'image/png', {'X-Render-Ms': f'{ms:.1f}'})

    def _upload(self, query):
        self._json(self.editor.upload(self._body(MAX_UPLOAD_BYTES)))

    def _jacobian(self, query):
        self._json(self.editor.start_jacobian(self._json_body()))

    def _jacobian_state(self, query):
        ids = query.get('id')
        if not ids:
            raise RequestError('id is missing (GET /api/jacobian?id=...)')
        self._json(self.editor.task(ids[0]).describe())

    def _jacobian_cancel(self, query):
        self._json(self.editor.cancel_task(self._json_body()))

    def _invert(self, query):
        self._json(self.editor.start_inversion(self._body(MAX_UPLOAD_BYTES), query))

    def _invert_state(self, query):
        ids = query.get('id')
        if not ids:
            raise RequestError('id is missing (GET /api/invert?id=...)')
        self._json(self.editor.task(ids[0], InversionTask).describe())

    def _invert_cancel(self, query):
        self._json(self.editor.cancel_task(self._json_body(), InversionTask))

    def _region(self, query):
        self._json(self.editor.region_directions(self._json_body()))

    def _export_image(self, query):
        data, _ = self.editor.render(self._json_body())
        self._download(data, f'{self.editor.generator.model_name}_edited.png', 'image/png')

    def _export_gif(self, query):
        self._download(self.editor.export_gif(self._json_body()), f'{self.editor.generator.model_name}_edit.gif',
                       'image/gif')

    def _export_direction(self, query):
        name, data = self.editor.export_direction(self._json_body())
        self._download(data, f'{name}.zip', 'application/zip')

    def _export_code(self, query):
        self._download(self.editor.export_code(self._json_body()), f'{self.editor.generator.model_name}_code.npy',
                       'application/octet-stream')

    def _export_command(self, query):
        self._json(self.editor.command(self._json_body()))


ROUTES = {
    ('GET', '/'): Handler._page, ('HEAD', '/'): Handler._page,
    ('GET', '/api/info'): Handler._info,
    ('POST', '/api/sefa'): Handler._sefa,
    ('POST', '/api/render'): Handler._render,
    ('POST', '/api/upload'): Handler._upload,
    ('POST', '/api/jacobian'): Handler._jacobian,
    ('GET', '/api/jacobian'): Handler._jacobian_state,
    ('POST', '/api/jacobian/cancel'): Handler._jacobian_cancel,
    ('POST', '/api/region'): Handler._region,
    ('POST', '/api/invert'): Handler._invert,
    ('GET', '/api/invert'): Handler._invert_state,
    ('POST', '/api/invert/cancel'): Handler._invert_cancel,
    ('POST', '/api/export/image'): Handler._export_image,
    ('POST', '/api/export/gif'): Handler._export_gif,
    ('POST', '/api/export/direction'): Handler._export_direction,
    ('POST', '/api/export/code'): Handler._export_code,
    ('POST', '/api/export/command'): Handler._export_command,
}


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(editor, host='127.0.0.1', port=8000, quiet=True):
    """A server (not yet serving) of `editor` on `host:port` (port 0: a free one)."""
    handler = type('EditorHandler', (Handler,), {'editor': editor, 'static': _static_files(), 'quiet': quiet})
    return Server((host, port), handler)
