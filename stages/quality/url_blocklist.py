"""URL/domain blocklist on a `url` column."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages.base import Filter
from stages.chinese import string_array
from stages.quality._rules import first_reason, with_signals
from stages.quality.words import read_word_list

RESOURCES = Path(__file__).parent / "resources"
_HOST = r"^(?:[a-z][a-z0-9+.\-]*://)?(?:[^@/?#]*@)?(?P<host>[^/:?#]*)"

NOT_BLOCKED, BLOCKED_DOMAIN, BLOCKED_KEYWORD = 0, 1, 2


def host_blocked(host: str, domains: frozenset[str]) -> bool:
    """True when the host or any parent domain (down to the top-level label) is in `domains`."""
    parts = host.strip(".").split(".")
    return any(".".join(parts[i:]) in domains for i in range(len(parts)))


class UrlBlocklistFilter(Filter):
    """Drops documents whose URL is on a domain blocklist or contains a blocked keyword.

    `_url_blocked`: 0 = not blocked (or no URL), 1 = blocked domain, 2 = blocked URL keyword. Without a
    `url_field` column the stage keeps everything and counts `no_url_column`.

    The approach is C4's and RefinedWeb's (a domain blocklist plus URL keywords) and MAP-NEO Matrix's, which
    ships category domain/URL lists (Matrix/chinese_data_clean_pipeline/filter/dest). We do not copy those
    lists: resources/blocked_domains.txt holds the adult and gambling top-level domains, and
    resources/blocked_url_keywords.txt pinyin and English markers of gambling and adult sites. Real use
    needs a site list; pass it with `domain_files` (one domain per line).
    """

    name: ClassVar[str] = "url_blocklist_filter"
    requires: ClassVar[tuple[str, ...]] = ("text",)
    adds: ClassVar[tuple[str, ...]] = ("_url_blocked",)

    url_field: str = "url"
    domain_files: list[str] = Field(default_factory=list, description="extra blocked domains, one per line")
    keyword_files: list[str] = Field(default_factory=list, description="extra URL substrings, one per line")
    use_builtin: bool = Field(True, description="include the built-in domain and keyword lists")

    def setup(self) -> None:
        domains: set[str] = set()
        keywords: set[str] = set()
        if self.use_builtin:
            domains.update(read_word_list(RESOURCES / "blocked_domains.txt"))
            keywords.update(read_word_list(RESOURCES / "blocked_url_keywords.txt"))
        for path in self.domain_files:
            domains.update(read_word_list(path))
        for path in self.keyword_files:
            keywords.update(read_word_list(path))
        domains = {d.lower().strip(".").removeprefix("www.") for d in domains}
        object.__setattr__(self, "_domains", frozenset(domains))
        pattern = "|".join(re.escape(k.lower()) for k in sorted(keywords))
        object.__setattr__(self, "_keyword_re", pattern or None)

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.ensure_setup()
        n = batch.num_rows
        code = np.zeros(n, dtype=np.int64)
        if self.url_field not in batch.schema.names:
            self.count("no_url_column", n)
            return with_signals(batch, {"_url_blocked": code})
        urls = pc.utf8_lower(pc.fill_null(string_array(batch.column(self.url_field)), ""))
        if self._keyword_re:
            code[pc.match_substring_regex(urls, self._keyword_re).to_numpy(zero_copy_only=False)] = BLOCKED_KEYWORD
        if self._domains:
            hosts = pc.struct_field(pc.extract_regex(urls, _HOST), [0]).to_pylist()
            blocked = np.fromiter((bool(h) and host_blocked(h, self._domains) for h in hosts), dtype=bool, count=n)
            code[blocked] = BLOCKED_DOMAIN
        return with_signals(batch, {"_url_blocked": code})

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        code = batch.column("_url_blocked").to_numpy(zero_copy_only=False)
        return first_reason(
            batch.num_rows,
            [(code == BLOCKED_DOMAIN, "blocked_domain"), (code == BLOCKED_KEYWORD, "blocked_url_keyword")],
        )
