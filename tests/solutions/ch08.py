"""Reference solutions (and answers that must fail) for chapter 08's exercises."""

import asyncio
import re


async def read_response(reader):
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return status, headers, body


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
    return body.decode(charset)


def always_utf8(content_type, body):
    return body.decode("utf-8", errors="replace")


def header_only(content_type, body):
    found = re.search(r"charset=([\w-]+)", content_type or "")
    return body.decode(found[1] if found else "utf-8")


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
    "08.1": [read_to_the_end, split_at_every_colon, one_read_for_the_body],
    "08.2": [always_utf8, header_only, meta_first],
    "08.3": [one_at_a_time, unbounded, gather_raises, message_only],
}
