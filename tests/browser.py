"""A small W3C WebDriver client for headless Chromium, with the standard library only.

    with Chromium(profile_dir) as browser:
        browser.get('http://127.0.0.1:8000/')
        browser.wait_for('return document.readyState === "complete"')
        browser.save_screenshot('page.png')

It starts `chromedriver` on a free port, opens one session (a fresh profile,
no network other than what the page asks for), and speaks the WebDriver HTTP
protocol with `urllib` and `json`.
"""

import base64
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

CHROMIUM = os.environ.get('GANSEMANTICS_CHROMIUM', '/usr/bin/chromium')
CHROMEDRIVER = os.environ.get('GANSEMANTICS_CHROMEDRIVER', '/usr/bin/chromedriver')
ELEMENT_KEY = 'element-6066-11e4-a52e-4f735466cecf'  # the W3C name of an element reference
WINDOW_SIZE = (1280, 900)


class WebDriverError(RuntimeError):
    """An error answered by chromedriver (its W3C error code and message)."""


def missing_message():
    """None when Chromium and chromedriver are here, else one line naming what is missing and how to install it."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(path) and os.access(path, os.X_OK))]
    if not missing:
        return None
    return (f'{" and ".join(missing)} not found: install the Debian packages chromium and chromium-driver '
            f'(apt-get update && apt-get install -y chromium chromium-driver)')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def http_json(method, url, body=None, timeout=60):
    """(status, decoded JSON body) of one HTTP request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={'Content-Type': 'application/json; charset=utf-8'})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b'null')
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {'value': {'error': 'http error', 'message': text.decode(errors='replace')}}


class Chromium:
    """Headless Chromium driven through chromedriver; a context manager that quits both."""

    def __init__(self,
        profile_dir,                 # A fresh folder for the browser's profile (--user-data-dir).
        window_size=WINDOW_SIZE,     # (width, height) of the window in CSS pixels.
        log_path=None,               # Where chromedriver writes its log (None: nowhere).
        download_dir=None,           # Where downloads go (None: Chromium's default folder).
        timeout=30,                  # Seconds to wait for chromedriver and the session to start.
    ):
        missing = missing_message()
        if missing:
            raise FileNotFoundError(missing)
        self.port = free_port()
        self.url = f'http://127.0.0.1:{self.port}'
        self._log = open(log_path, 'w') if log_path else subprocess.DEVNULL
        self._process = subprocess.Popen([CHROMEDRIVER, f'--port={self.port}'], stdout=self._log,
                                         stderr=subprocess.STDOUT)
        self.session = None
        try:
            self._wait_ready(timeout)
            args = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                    '--disable-background-networking', '--disable-component-update', '--disable-sync',
                    '--disable-dev-shm-usage', f'--window-size={window_size[0]},{window_size[1]}',
                    f'--user-data-dir={os.path.abspath(profile_dir)}']
            options = {'binary': CHROMIUM, 'args': args}
            if download_dir:
                options['prefs'] = {'download.default_directory': os.path.abspath(download_dir),
                                    'download.prompt_for_download': False}
            capabilities = {'browserName': 'chrome', 'goog:chromeOptions': options}
            value = self._call('POST', '/session', {'capabilities': {'alwaysMatch': capabilities}})
            self.session = value['sessionId']
            self.set_viewport(*window_size)
        except BaseException:
            self.quit()
            raise

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, body = http_json('GET', f'{self.url}/status', timeout=2)
                if status == 200 and body['value'].get('ready'):
                    return
            except OSError:
                pass
            if self._process.poll() is not None:
                raise WebDriverError(f'chromedriver exited with code {self._process.returncode}')
            if time.monotonic() > deadline:
                raise WebDriverError(f'chromedriver did not answer within {timeout} s')
            time.sleep(0.1)

    def _call(self, method, path, body=None):
        status, answer = http_json(method, self.url + path, body)
        value = answer.get('value') if isinstance(answer, dict) else None
        if status != 200:
            error = value or {}
            message = str(error.get('message', answer)).splitlines()[0]
            raise WebDriverError(f'{method} {path}: {error.get("error", status)}: {message}')
        return value

    def _session_call(self, method, path, body=None):
        return self._call(method, f'/session/{self.session}{path}', body)

    # ------------------------------------------------------------------------
    # Commands.

    def set_viewport(self, width, height):
        """Resize the window so that the page's viewport is `width` x `height` CSS pixels.

        `--window-size` sizes the whole window, and headless Chromium keeps room for its (invisible) toolbars.
        """
        inner = self.execute('return [window.innerWidth, window.innerHeight]')
        rect = self._session_call('GET', '/window/rect')
        self._session_call('POST', '/window/rect', {'width': rect['width'] + width - inner[0],
                                                    'height': rect['height'] + height - inner[1]})

    def get(self, url):
        self._session_call('POST', '/url', {'url': url})

    def execute(self, script, *args):
        """The value the function body `script` returns, run in the page with `arguments` = `args`."""
        return self._session_call('POST', '/execute/sync', {'script': script, 'args': list(args)})

    def execute_async(self, script, *args):
        """Like `execute`, but the script calls its last argument with the result."""
        return self._session_call('POST', '/execute/async', {'script': script, 'args': list(args)})

    def find(self, css):
        """A reference to the first element matching the CSS selector `css` (usable as a script argument)."""
        return self._session_call('POST', '/element', {'using': 'css selector', 'value': css})

    def click(self, element):
        self._session_call('POST', f'/element/{element[ELEMENT_KEY]}/click', {})

    def send_keys(self, element, text):
        """Type `text` into an element; for a file input, `text` is the path of the file to choose."""
        self._session_call('POST', f'/element/{element[ELEMENT_KEY]}/value', {'text': text})

    def drag(self, element, start, end, steps=8):
        """Press the mouse at `start`, move to `end` in `steps` moves, release.

        Points are (x, y) in CSS pixels from the element's centre, as WebDriver actions measure them.
        """
        moves = [{'type': 'pointerMove', 'duration': 0, 'origin': element, 'x': int(start[0]), 'y': int(start[1])},
                 {'type': 'pointerDown', 'button': 0}]
        for i in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * i / steps
            y = start[1] + (end[1] - start[1]) * i / steps
            moves.append({'type': 'pointerMove', 'duration': 20, 'origin': element, 'x': int(round(x)),
                          'y': int(round(y))})
        moves.append({'type': 'pointerUp', 'button': 0})
        actions = [{'type': 'pointer', 'id': 'mouse', 'parameters': {'pointerType': 'mouse'}, 'actions': moves}]
        self._session_call('POST', '/actions', {'actions': actions})
        self._session_call('DELETE', '/actions')

    def screenshot(self):
        """The window's screenshot, PNG bytes."""
        return base64.b64decode(self._session_call('GET', '/screenshot'))

    def save_screenshot(self, path):
        with open(path, 'wb') as file:
            file.write(self.screenshot())
        return path

    def wait_for(self, script, *args, timeout=20, interval=0.1, message=None):
        """The first truthy value of `script` (a function body), polled until `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.execute(script, *args)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(message or f'timed out after {timeout} s waiting for: {script}')
            time.sleep(interval)

    # ------------------------------------------------------------------------
    # Ending.

    def quit(self):
        if self.session is not None:
            try:
                self._call('DELETE', f'/session/{self.session}')
            except (OSError, WebDriverError):
                pass
            self.session = None
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.quit()

