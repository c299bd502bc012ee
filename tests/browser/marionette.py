"""A small Marionette client: the report's browser tests, in Firefox.

Debian's firefox-esr speaks Marionette (length-prefixed JSON over TCP) when
started with --marionette, so, as with chromium's pipe (cdp.py), no driver
from npm and no websocket are needed.  It offers what cdp.Browser offers:
open, eval, problems, requests, screenshot.  Problems are read from the
browser's console service in its chrome context (script errors, CSP
violations, failed loads); requests from the page's resource timing, which
lists every fetch a page makes (a file:// page has no network to watch).
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

from cdp import BrowserError  # one error type for both drivers

FIREFOX = os.environ.get("HEAPDIG_FIREFOX") or shutil.which("firefox-esr") \
    or shutil.which("firefox")

PREFS = {
    "marionette.port": 0,  # any free port; Firefox writes it to the profile
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "browser.startup.homepage_override.mstone": "ignore",
    "network.captive-portal-service.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "extensions.update.enabled": False,
    # console.* calls of a page reach no parent-side store, so they are
    # printed ("console.error: ...") on stdout, which problems() reads
    "devtools.console.stdout.content": True,
}

# Chrome-context script: the console's script errors and warnings since the
# last reset, as text.
PROBLEMS_JS = r'''
const out = [];
for (const m of Services.console.getMessageArray() || []) {
  if (m instanceof Ci.nsIScriptError) {
    const warn = m.flags & Ci.nsIScriptError.warningFlag;
    const name = m.sourceName || "";
    if (name.startsWith("chrome:") || name.startsWith("resource:")) continue;
    out.push((warn ? "warning: " : "error: ") + m.category + ": " +
             m.errorMessage + " (" + name + ":" + m.lineNumber + ")");
  }
}
return out;
'''



class Browser:
    def __init__(self, width=1280, height=900, timeout=60):
        if not FIREFOX:
            raise BrowserError("firefox is not installed (scripts/setup.sh "
                               "installs firefox-esr)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="heapdig-firefox-")
        with open(os.path.join(self.profile, "user.js"), "w") as f:
            for k, v in PREFS.items():
                f.write("user_pref(%s, %s);\n" % (json.dumps(k),
                                                  json.dumps(v)))
        env = dict(os.environ, MOZ_HEADLESS="1",
                   MOZ_HEADLESS_WIDTH=str(width),
                   MOZ_HEADLESS_HEIGHT=str(height))
        self.log = open(os.path.join(self.profile, "stdout.log"), "w+b")
        self.proc = subprocess.Popen(
            [FIREFOX, "--headless", "--marionette", "--no-remote",
             "--remote-allow-system-access", "--profile", self.profile,
             "about:blank"], env=env,
            stdout=self.log, stderr=subprocess.DEVNULL)
        self.sock = None
        self._buf = b""
        self._id = 0
        try:
            self._connect()
            self.call("WebDriver:NewSession",
                      capabilities={"alwaysMatch": {"acceptInsecureCerts":
                                                    False}})
            self.call("WebDriver:SetWindowRect", width=width, height=height)
        except Exception:
            self.close()
            raise

    def _connect(self):
        port_file = os.path.join(self.profile, "MarionetteActivePort")
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                raise BrowserError("firefox exited (rc %s)" % self.proc.poll())
            if time.monotonic() > deadline:
                raise BrowserError("firefox opened no Marionette port in %ds"
                                   % self.timeout)
            try:
                with open(port_file) as f:
                    port = int(f.read().strip())
                self.sock = socket.create_connection(("127.0.0.1", port),
                                                     timeout=self.timeout)
                break
            except (OSError, ValueError):
                time.sleep(0.2)
        hello = self._read()
        if hello.get("applicationType") != "gecko":
            raise BrowserError("not Marionette: %r" % hello)

    def _read(self):
        while True:
            head, sep, rest = self._buf.partition(b":")
            if sep:
                n = int(head)
                if len(rest) >= n:
                    self._buf = rest[n:]
                    return json.loads(rest[:n])
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise BrowserError("firefox closed the connection (rc %s)"
                                   % self.proc.poll())
            self._buf += chunk

    def call(self, command, **params):
        self._id += 1
        body = json.dumps([0, self._id, command, params]).encode()
        self.sock.sendall(b"%d:%s" % (len(body), body))
        while True:
            kind, msgid, error, result = self._read()
            if kind == 1 and msgid == self._id:
                break
        if error:
            raise BrowserError("%s: %s: %s" % (command, error.get("error"),
                                               error.get("message")))
        return result

    def _chrome(self, script):
        self.call("Marionette:SetContext", value="chrome")
        try:
            return self.call("WebDriver:ExecuteScript", script=script,
                             args=[])["value"]
        finally:
            self.call("Marionette:SetContext", value="content")

    def open(self, path, scripts=True):
        """Loads a local file and waits for its load event."""
        self._chrome("Services.prefs.setBoolPref('javascript.enabled', %s);"
                     "Services.console.reset();" % json.dumps(scripts))
        self.log_from = os.path.getsize(self.log.name)
        self.url = "file://" + os.path.abspath(path)
        self.call("WebDriver:Navigate", url=self.url)
        return self.url

    def eval(self, expression):
        return self.call("WebDriver:ExecuteScript",
                         script="return (%s);" % expression, args=[])["value"]

    def problems(self):
        """Script errors and warnings, and the page's console.error/warn."""
        out = self._chrome(PROBLEMS_JS)
        with open(self.log.name, "rb") as f:
            f.seek(self.log_from)
            for line in f.read().decode("utf-8", "replace").splitlines():
                if line.startswith(("console.error:", "console.warn:",
                                    "console.assert:")):
                    out.append(line)
        return out

    def requests(self):
        """Every URL the page fetched, but the page itself."""
        return self.eval("performance.getEntriesByType('resource')"
                         ".map(e => e.name)")

    def screenshot(self, path, full_page=True):
        data = self.call("WebDriver:TakeScreenshot", full=full_page,
                         hash=False)["value"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        if self.sock:
            try:
                self.call("Marionette:Quit", flags=["eForceQuit"])
            except (BrowserError, OSError, ValueError):
                pass
            self.sock.close()
            self.sock = None
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
