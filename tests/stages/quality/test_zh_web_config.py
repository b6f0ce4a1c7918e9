from pipeline.config import load_config


def test_zh_web_recipe_validates(repo_dir):
    cfg = load_config(str(repo_dir / "configs" / "zh_web.yaml"))
    names = [s.name for s in cfg.stages]
    assert names[:3] == ["normalize", "langid", "lang_filter"]
    assert {"length_filter", "han_ratio_filter", "repetition_filter", "word_filter", "blocklist_filter"} <= set(names)
    assert {"boilerplate_mapper", "app_promo_filter", "page_structure_filter"} <= set(names)
    assert names[-3:] == ["exact_dedup", "minhash_dedup", "paragraph_dedup"]  # dedup over what the filters kept
    rep = next(s for s in cfg.stages if s.name == "repetition_filter")
    assert rep.params["max_dup_line_frac"] == 0.287  # FineWeb-2 cmn_Hani
    assert cfg.input.encoding == "auto" and cfg.execution.workers == 2
