"""Reference solutions (and answers that must fail) for chapter 08's exercises."""

import asyncio
import re


async def read_response(reader):
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if status in (204, 304) or status < 200:
        return status, headers, b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readline()  # the CRLF after the chunk
        while (await reader.readline()) not in (b"\r\n", b""):  # trailer lines
            pass
        return status, headers, b"".join(chunks)
    return status, headers, await reader.readexactly(int(headers["content-length"]))


async def read_to_the_end(reader):  # the sources' way: waits for a close that never comes
    raw = await reader.read()
    head, _, body = raw.partition(b"\r\n\r\n")
    return 200, {}, body


async def split_at_every_colon(reader):
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, value = line.decode("latin-1").split(":")[:2]
        headers[name.strip().lower()] = value.strip()
    return status, headers, await reader.readexactly(int(headers["content-length"]))


async def one_read_for_the_body(reader):  # read(n) may return fewer bytes; here it takes the next answer too
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, await reader.read(65536)


def decode_page(content_type, body):
    found = re.search(r"""charset\s*=\s*["']?([\w-]+)""", content_type or "", re.IGNORECASE)
    if found is None:
        found = re.search(rb"""<meta[^>]*charset\s*=\s*["']?([\w-]+)""", body, re.IGNORECASE)
        charset = found[1].decode("ascii") if found else "utf-8"
    else:
        charset = found[1]
    return body.decode("gb18030" if charset.lower() in ("gbk", "gb2312") else charset)


def decode_gbk_as_gbk(content_type, body):  # the declared label taken literally: GB18030's characters fail
    found = re.search(r"""charset\s*=\s*["']?([\w-]+)""", content_type or "", re.IGNORECASE)
    if found is None:
        found = re.search(rb"""<meta[^>]*charset\s*=\s*["']?([\w-]+)""", body, re.IGNORECASE)
        charset = found[1].decode("ascii") if found else "utf-8"
    else:
        charset = found[1]
    return body.decode(charset, "ignore")


def always_utf8(content_type, body):
    return body.decode("utf-8", errors="replace")


def header_only(content_type, body):
    found = re.search(r"charset=([\w-]+)", content_type or "")
    return body.decode(found[1] if found else "utf-8")


async def length_only(reader):  # 08.1 before chunked: every body by its Content-Length
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if status in (204, 304):
        return status, headers, b""
    return status, headers, await reader.readexactly(int(headers.get("content-length", 0)))


async def chunked_but_every_status_has_a_body(reader):
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        chunks = []
        while size := int((await reader.readline()).split(b";")[0], 16):
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return status, headers, b"".join(chunks)
    return status, headers, await reader.readexactly(int(headers.get("content-length", 0)))


# --- the chapter's own code, fitted to each exercise's signature: it must not pass ---------------


async def chapter_http_get(reader):  # cell `http_get`: skips 1xx, no-body statuses, Content-Length, refuses chunked
    async def read_head():
        status_line = (await reader.readline()).decode("latin-1").rstrip()
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers

    status, headers = await read_head()
    while 100 <= status < 200:
        status, headers = await read_head()
    if status in {204, 304}:
        return status, headers, b""
    if "content-length" not in headers:
        raise ValueError("no Content-Length; http_get reads only bodies of a stated length")
    return status, headers, await reader.readexactly(int(headers["content-length"]))


def chapter_codec(content_type, body):  # cell `get_page`: aiohttp's response.charset (header only), then codec()
    found = re.search(r"""charset\s*=\s*["']?([\w-]+)""", content_type or "", re.IGNORECASE)
    charset = found[1] if found else "utf-8"
    return body.decode("gb18030" if charset.lower() in ("gbk", "gb2312") else charset)


async def chapter_crawl(fetch, urls, limit):  # cell `fetch_and_save`/`crawl`: catches the client's errors only
    failed, pages = {}, {}
    semaphore = asyncio.Semaphore(limit)

    async def fetch_and_save(url):
        async with semaphore:
            try:
                page = await fetch(url)
            except TimeoutError as error:  # (aiohttp.ClientError, TimeoutError) in the chapter
                failed[url] = f"timed out after 1 s: {error}"
                return 0
        pages[url] = page
        return 1

    await asyncio.gather(*(fetch_and_save(url) for url in urls))
    return pages, failed


def meta_first(content_type, body):
    found = re.search(rb'<meta charset="([\w-]+)"', body)
    if found:
        return body.decode(found[1].decode())
    return decode_page(content_type, body)


async def crawl_all(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)
    pages, failed = {}, {}

    async def one(url):
        async with semaphore:
            try:
                pages[url] = await fetch(url)
            except Exception as error:
                failed[url] = f"{type(error).__name__}: {error}"

    await asyncio.gather(*(one(url) for url in urls))
    return pages, failed


async def one_at_a_time(fetch, urls, limit):  # the sources' crawler: the semaphore never lets in a second
    semaphore = asyncio.Semaphore(limit)
    pages, failed = {}, {}
    for url in urls:
        async with semaphore:
            try:
                pages[url] = await fetch(url)
            except Exception as error:
                failed[url] = f"{type(error).__name__}: {error}"
    return pages, failed


async def unbounded(fetch, urls, limit):
    pages, failed = {}, {}

    async def one(url):
        try:
            pages[url] = await fetch(url)
        except Exception as error:
            failed[url] = f"{type(error).__name__}: {error}"

    await asyncio.gather(*(one(url) for url in urls))
    return pages, failed


async def gather_raises(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def one(url):
        async with semaphore:
            return await fetch(url)

    results = await asyncio.gather(*(one(url) for url in urls))
    return dict(zip(urls, results)), {}


async def message_only(fetch, urls, limit):
    semaphore = asyncio.Semaphore(limit)
    pages, failed = {}, {}

    async def one(url):
        async with semaphore:
            try:
                pages[url] = await fetch(url)
            except Exception as error:
                failed[url] = str(error)

    await asyncio.gather(*(one(url) for url in urls))
    return pages, failed


SOLUTIONS = {
    "08.1": read_response,
    "08.2": decode_page,
    "08.3": crawl_all,
}

WRONG = {
    "08.1": [read_to_the_end, split_at_every_colon, one_read_for_the_body, length_only,
             chunked_but_every_status_has_a_body],
    "08.2": [always_utf8, header_only, meta_first, decode_gbk_as_gbk],
    "08.3": [one_at_a_time, unbounded, gather_raises, message_only],
}

CHAPTER_CODE = {
    "08.1": [chapter_http_get],
    "08.2": [chapter_codec],
    "08.3": [chapter_crawl],
}
