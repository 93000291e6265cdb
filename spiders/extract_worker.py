"""A page's main text and title read in a second process, so that a large crawl uses a second
core: the crawl's one thread fetches and stores while the worker parses. The page spider starts
one for a source of FUNDWATCH_EXTRACT_WORKER_MIN_PAGES pages or more (it pays where pages come
faster than they are read: bench/README.md, speed devices).

Written here, not taken from concurrent.futures: a ProcessPoolExecutor gained almost nothing in
the same crawl (bench/README.md), and it adds two threads to the crawl process. This needs none:
frames go over the worker's stdin and stdout on the crawl's own asyncio loop (a 4-byte length,
then a pickle), and the answers come back in order."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import pickle
import struct
import sys
from collections import deque

from fundwatch.spiders.extract import page_text

logger = logging.getLogger(__name__)
_LENGTH = struct.Struct(">I")
CLOSE_SECONDS = 10  # a page being read when the crawl ends
PIPE_BYTES = 1 << 20  # room for a dozen pages: the default 64 kB pipe makes every large page wait for the worker


class WorkerGone(Exception):
    """The worker could not be started or has exited: read the page in the crawl's own process."""


class ExtractionError(Exception):
    """Extraction raised in the worker (as it would have in the crawl's process)."""


class ExtractWorker:
    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.started: asyncio.Future | None = None
        self.reader: asyncio.Future | None = None
        self.waiting: deque[asyncio.Future] = deque()
        self.gone: str | None = None

    async def page_text(self, body: bytes, encoding: str | None) -> tuple[str, str]:
        if self.started is None:  # the pages that come while it starts wait for this one start
            self.started = asyncio.ensure_future(self._start())
        await self.started
        if self.gone:
            raise WorkerGone(self.gone)
        frame = pickle.dumps((body, encoding), protocol=pickle.HIGHEST_PROTOCOL)
        answer = asyncio.get_running_loop().create_future()
        self.waiting.append(answer)
        try:
            self.proc.stdin.write(_LENGTH.pack(len(frame)))
            self.proc.stdin.write(frame)
            await self.proc.stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._fail(f"the extraction worker stopped reading ({type(exc).__name__})")
        ok, value = await answer
        if not ok:
            raise ExtractionError(value)
        return value

    async def _start(self) -> None:
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        except OSError as exc:
            self.gone = f"cannot start the extraction worker: {exc}"
            return
        try:
            fcntl.fcntl(self.proc.stdin.get_extra_info("pipe").fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        except (OSError, AttributeError):  # a lower limit (fs.pipe-max-size) or not Linux: slower, not wrong
            pass
        self.reader = asyncio.ensure_future(self._answers())
        logger.info("reading pages in a second process (pid %d)", self.proc.pid)

    async def _answers(self) -> None:
        out = self.proc.stdout
        try:
            while True:
                length, = _LENGTH.unpack(await out.readexactly(_LENGTH.size))
                answer = pickle.loads(await out.readexactly(length))  # noqa: S301 - our own worker
                self.waiting.popleft().set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            self._fail("the extraction worker exited")

    def _fail(self, reason: str) -> None:
        self.gone = self.gone or reason
        while self.waiting:
            answer = self.waiting.popleft()
            if not answer.done():
                answer.set_exception(WorkerGone(self.gone))

    async def close(self) -> None:
        """The worker exits when its stdin closes (as it does when the crawl process dies)."""
        self.gone = self.gone or "closed"
        if self.proc is None:
            return
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), CLOSE_SECONDS)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        await self.reader


def serve(stdin, stdout) -> None:
    """The worker: answer each frame with (True, (text, title)) or (False, the error) until stdin closes."""
    while len(head := stdin.read(_LENGTH.size)) == _LENGTH.size:
        body, encoding = pickle.loads(stdin.read(_LENGTH.unpack(head)[0]))  # noqa: S301 - our own crawl
        try:
            answer = (True, page_text(body, encoding))
        except Exception as exc:  # noqa: BLE001 - handed back to the crawl, which records it for the page
            answer = (False, f"{type(exc).__name__}: {exc}")
        frame = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(_LENGTH.pack(len(frame)) + frame)
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
