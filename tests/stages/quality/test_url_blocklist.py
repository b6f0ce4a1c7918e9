from stages.quality.url_blocklist import UrlBlocklistFilter, host_blocked
from stages.testing import run_stage


def test_domains_keywords_and_missing_urls():
    urls = ["https://www.example.casino/a", "http://news.ok.cn/baijiale/1.html", "https://ok.cn/", None]
    out = run_stage(UrlBlocklistFilter(mode="annotate"), ["甲", "乙", "丙", "丁"], url=urls)
    # .casino is a blocked top-level domain -> 1; "baijiale" in the path -> 2; others 0
    assert out.kept.column("_url_blocked").to_pylist() == [1, 2, 0, 0]
    out = run_stage(UrlBlocklistFilter(), ["甲", "乙", "丙", "丁"], url=urls)
    assert out.rejected.column("reason").to_pylist() == ["blocked_domain", "blocked_url_keyword"]


def test_user_domain_file_blocks_subdomains(tmp_path):
    f = tmp_path / "domains.txt"
    f.write_text("spam.example.com\n", encoding="utf-8")
    out = run_stage(
        UrlBlocklistFilter(domain_files=[str(f)], use_builtin=False),
        ["甲", "乙"],
        url=["http://a.spam.example.com/x", "http://example.com/"],
    )
    assert out.kept.column("id").to_pylist() == ["d1"]


def test_no_url_column_keeps_everything_and_counts():
    out = run_stage(UrlBlocklistFilter(), ["甲", "乙"])
    assert out.kept.num_rows == 2 and out.stats.counters["no_url_column"] == 2


def test_host_blocked():
    d = frozenset({"bad.cn", "xxx"})
    assert host_blocked("www.bad.cn", d) and host_blocked("a.b.xxx", d)
    assert not host_blocked("notbad.cn", d)
