"""Opening an HTML file in a headless browser (Debian's ``chromium``) and collecting the errors
its page reports, to test that generated HTML (plotly figures, viewers) runs.

Chromium's ``--enable-logging=stderr`` writes every console message of the page as
``[...:INFO:CONSOLE:<line>] "<message>", source: <url> (<line>)`` without its level, so the page
is opened from a sibling copy with one script put first that marks ``console.error`` messages
(uncaught exceptions and rejected promises come as ``Uncaught ...`` and failed loads as
``Failed to load resource: ...`` already)."""
import os
import os.path as osp
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, NamedTuple, Optional, Union

CHROMIUM_MISSING = 'chromium is not installed (apt-get install chromium)'
ERROR_MARK = '[console.error]'
_MARK_SCRIPT = ('<script>(function(){var e=console.error;console.error=function(){'
                'var a=Array.prototype.slice.call(arguments);'
                f'a.unshift({ERROR_MARK!r});return e.apply(console,a);}};}})();</script>')
# one console message; its text may span lines
_CONSOLE = re.compile(r'INFO:CONSOLE[(:]?\d*\)?\] "(?P<msg>.*?)", source: (?P<src>.*?) '
                      r'\((?P<line>\d+)\)$', re.S | re.M)
_ERROR = re.compile(r'^(Uncaught\b|Failed to load resource\b)|' + re.escape(ERROR_MARK))


class ChromiumPage(NamedTuple):
    """What a headless chromium run of a page gave: the error messages (``message (source:
    line)``), every console message, the serialized DOM after the scripts ran, and stderr."""
    errors: List[str]
    console: List[str]
    dom: str
    stderr: str


def chromium_binary() -> Optional[str]:
    """Path of ``chromium`` (Debian's package; ``chromium-browser`` elsewhere) or None."""
    return shutil.which('chromium') or shutil.which('chromium-browser')


def console_messages(stderr: str) -> List[str]:
    """The page's console messages in chromium's stderr log, ``message (source:line)``."""
    return [f"{m['msg']} ({m['src']}:{m['line']})" for m in _CONSOLE.finditer(stderr)]


def error_messages(messages: List[str]) -> List[str]:
    """The messages that are errors: uncaught exceptions / rejections, failed resource loads,
    ``console.error`` calls (marked by the injected script)."""
    return [m for m in messages if _ERROR.search(m)]


def _with_marker(html: str) -> str:
    """``html`` with the console.error marker script first in ``<head>`` (or the document)."""
    head = re.search(r'<head[^>]*>', html, re.I)
    if head is None:
        head = re.search(r'<html[^>]*>', html, re.I) or re.search(r'<!doctype[^>]*>', html, re.I)
    at = head.end() if head else 0
    return html[:at] + _MARK_SCRIPT + html[at:]


def open_in_chromium(path: Union[str, Path], budget_ms: int = 5000,
                     timeout: float = 120.0) -> ChromiumPage:
    """Load ``path`` in headless chromium, let its scripts run for ``budget_ms`` of virtual
    time, return what it reported. Raises FileNotFoundError without chromium or the file."""
    binary = chromium_binary()
    if binary is None:
        raise FileNotFoundError(CHROMIUM_MISSING)
    path = osp.abspath(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'no HTML file {path}')
    with open(path, encoding='utf-8') as f:
        html = f.read()
    # a sibling copy, so relative links resolve as from the original
    fd, copy = tempfile.mkstemp(suffix='.html', prefix='.chromium_check_', dir=osp.dirname(path))
    profile = tempfile.mkdtemp(prefix='chromium_profile_')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(_with_marker(html))
        cmd = [binary, '--headless=new', '--disable-gpu', '--no-sandbox', '--no-first-run',
               '--disable-extensions', f'--user-data-dir={profile}', '--enable-logging=stderr',
               '--v=0', f'--virtual-time-budget={int(budget_ms)}', '--dump-dom',
               Path(copy).as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              errors='replace')
    finally:
        os.remove(copy)
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f'chromium exited with {proc.returncode} on {path}:\n'
                           f'{proc.stderr[-3000:]}')
    copy_uri = Path(copy).as_uri()
    console = [m.replace(copy_uri, Path(path).as_uri()) for m in console_messages(proc.stderr)]
    return ChromiumPage(error_messages(console), console, proc.stdout, proc.stderr)


def check_html_in_chromium(path: Union[str, Path], budget_ms: int = 5000,
                           timeout: float = 120.0) -> List[str]:
    """The console errors of ``path`` opened in headless chromium (empty when it runs
    cleanly); see :func:`open_in_chromium`."""
    return open_in_chromium(path, budget_ms, timeout).errors
