"""The editor's HTTP server: the standard library's threading server, the page's own files, and a JSON API (see
`docs/interface.md`) whose routes name the parser of a request and the session's method that answers it."""

import http.server
import json
import os
import re
import urllib.parse

from . import parse
from .parse import RequestError, fail, need
from .session import Editor, File

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'static')
STATIC = {'index.html': 'text/html', 'app.js': 'text/javascript', 'style.css': 'text/css'}
PAGES = {'/': 'index.html', **{f'/static/{name}': name for name in STATIC}}  # nothing else is served
MAX_BODY_BYTES = 16 * 2 ** 20
FILE_BODIES = ('/api/upload', '/api/invert')  # their body is a file, their fields are in the query
ROUTES = {  # (method, path): (the parser of the request, what answers it)
    ('GET', '/api/info'): (lambda *_: None, lambda editor, _: editor.info()),
    ('POST', '/api/sefa'): (parse.sefa, Editor.factorize),
    ('POST', '/api/render'): (parse.state, Editor.render),
    ('POST', '/api/upload'): (parse.upload, lambda editor, codes: editor.add_codes(*codes)),
    ('POST', '/api/jacobian'): (parse.sample, Editor.start_jacobian),
    ('GET', '/api/jacobian'): (parse.task_id, lambda editor, i: editor.task(i, editor.jacobians).describe()),
    ('POST', '/api/jacobian/cancel'): (parse.task_id, lambda editor, i: editor.task(i, editor.jacobians).cancel()),
    ('POST', '/api/region'): (parse.region, Editor.region_directions),
    ('POST', '/api/invert'): (parse.projection, Editor.start_inversion),
    ('GET', '/api/invert'): (parse.task_id, lambda editor, i: editor.task(i, editor.projections).describe()),
    ('POST', '/api/invert/cancel'): (parse.task_id, lambda editor, i: editor.task(i, editor.projections).cancel()),
    ('POST', '/api/export/image'): (parse.state, Editor.export_image),
    ('POST', '/api/export/gif'): (parse.gif, Editor.export_gif),
    ('POST', '/api/export/code'): (parse.state, Editor.export_code),
    ('POST', '/api/export/edit'): (parse.state, Editor.export_edit),
}


class Handler(http.server.BaseHTTPRequestHandler):
    """One request: find its route, parse it, answer; every error becomes, here only, a one-line JSON message."""

    server_version = 'gansemantics-editor'
    editor = None  # set by make_server

    def log_message(self, format, *args):  # noqa: A002 - quiet: the page sends a request per slider move
        pass

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        for key, value in {'Content-Type': content_type, 'Content-Length': str(len(body)), 'Cache-Control':
                           'no-store', 'X-Content-Type-Options': 'nosniff', **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    def _fields(self, path, query):
        """`(fields, raw body)`: the fields are the query of a GET or of a file's upload, else the JSON body."""
        length, raw = self.headers.get('Content-Length') or '', b''
        if self.command == 'POST':
            need(length.isdigit(), 'Content-Length', 'is missing', 411)
            need(int(length) <= MAX_BODY_BYTES, 'body', f'is larger than {MAX_BODY_BYTES >> 20} MB', 413)
            raw = self.rfile.read(int(length))
        if self.command == 'GET' or path in FILE_BODIES:
            return {k: int(v[-1]) if re.fullmatch(r'-?\d{1,18}', v[-1]) else v[-1] for k, v in query.items()}, raw
        try:
            fields = json.loads(raw.decode('utf-8')) if raw else {}
        except (UnicodeDecodeError, ValueError, RecursionError):
            fail('body', 'is not JSON')
        need(isinstance(fields, dict), 'body', 'must be a JSON object')
        return fields, raw

    def _answer(self, url):
        method = self.command
        if (method, url.path) in ROUTES:
            parser, action = ROUTES[method, url.path]
            fields, raw = self._fields(url.path, urllib.parse.parse_qs(url.query))
            answer = action(self.editor, parser(fields, self.editor, raw))
            if not isinstance(answer, File):
                return self._send(200, json.dumps(answer).encode(), 'application/json')
            download = {'Content-Disposition': f'attachment; filename="{answer.name}"'} if answer.name else {}
            return self._send(200, answer.data, answer.content_type, {**answer.headers, **download})
        if method in ('GET', 'HEAD') and url.path in PAGES:
            with open(os.path.join(STATIC_DIR, PAGES[url.path]), 'rb') as file:
                return self._send(200, file.read(), f'{STATIC[PAGES[url.path]]}; charset=utf-8')
        need(not any(path == url.path for _, path in ROUTES), 'path', f'{method} is not allowed on {url.path}', 405)
        return fail('path', f'no such page or endpoint: {url.path}', 404)

    def do_GET(self):  # noqa: N802 - the standard library's name; HEAD and POST come here too
        try:
            self._answer(urllib.parse.urlsplit(self.path))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away (a newer request replaced this one)
        except Exception as error:  # the server keeps running; the page gets one line
            status, text = (error.status, str(error)) if isinstance(error, RequestError) else \
                (500, f'{type(error).__name__}: {error}')
            self._send(status, json.dumps({'error': ' '.join(text.split())[:500]}).encode(), 'application/json')

    do_HEAD = do_POST = do_GET  # noqa: N815


def make_server(editor, host='127.0.0.1', port=8000):
    """A server (not yet serving) of `editor` on `host:port` (port 0: a free one)."""
    return http.server.ThreadingHTTPServer((host, port), type('EditorHandler', (Handler,), {'editor': editor}))
