"""The curriculum evaluation section: held-out loss of a proxy model by reading order, from curriculum_eval.json."""

from __future__ import annotations

import os

from pipeline.proxy_eval.results import BASELINE, RESULT_JSON, checkpoints, curves, deltas, tokens_at, verdict
from pipeline.report.charts import PALETTE, line_chart
from pipeline.report.markup import Section, empty_note, esc, html_table, num
from pipeline.report.run_data import RunData
from stages.core.atomic import read_json

TITLE = "Curriculum evaluation"


def charts(result: dict) -> tuple[str, str | None]:
    """The held-out loss per order (band: min-max over seeds) and the paired difference to shuffle (None
    when shuffle was not among the orders)."""
    cs = curves(result)
    color = {c.name: PALETTE[i % len(PALETTE)] for i, c in enumerate(cs)}
    x = [tokens_at(result, s) / 1e6 for s in cs[0].steps]
    loss = line_chart(
        "chart-curriculum-eval-loss",
        "held-out loss by order",
        x,
        [(c.name, list(c.mean), list(c.values.min(axis=0)), list(c.values.max(axis=0))) for c in cs],
        "training bytes seen (millions)",
        f"held-out loss ({result['unit']})",
        colors=list(color.values()),
    )
    ds = deltas(result)
    if not ds:
        return loss, None
    delta = line_chart(
        "chart-curriculum-eval-delta",
        f"held-out loss minus {BASELINE}, per seed",
        x,
        [(d.name, list(d.mean), list(d.values.min(axis=0)), list(d.values.max(axis=0))) for d in ds],
        "training bytes seen (millions)",
        f"loss − {BASELINE} ({result['unit']})",
        zero_line=True,
        colors=[color[d.name] for d in ds],
    )
    return loss, delta


SVG_STYLE = (
    "<style>.lbl{fill:#344054}.axis{stroke:#98a2b3;stroke-width:1}.axis-title{fill:#344054;font-weight:600}"
    ".threshold{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:4 3}text{font:11px sans-serif}</style>"
)


def standalone_svg(result: dict) -> str:
    """Both charts stacked in one SVG file, with the styles the report page would give them."""
    loss, delta = charts(result)
    h = 260 * (2 if delta else 1)
    second = f'<g transform="translate(0 260)">{delta}</g>' if delta else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="720" height="{h}" viewBox="0 0 720 {h}">'
        f'{SVG_STYLE}<rect width="100%" height="100%" fill="#fff"/><g>{loss}</g>{second}</svg>\n'
    )


def section_curriculum_eval(run: RunData) -> Section:
    path = os.path.join(run.run_dir, RESULT_JSON)
    if not os.path.exists(path):
        return Section(
            "curriculum-eval",
            TITLE,
            empty_note(
                f"Not measured: `jingxuan curriculum-eval {run.run_dir}` trains proxy models to compare orders."
            ),
        )
    result = read_json(path)
    cs = curves(result)
    steps = cs[0].steps
    idx = checkpoints(steps)
    s, m = result["settings"], result["settings"]["model"]
    seeds = sorted(result["runs"][cs[0].name], key=int)
    parts = [
        f"<p>A byte-level transformer of {num(result['parameters'])} parameters ({m['layers']} layers, width "
        f"{m['d_model']}, context {m['context']}) trained once per order and seed on the same "
        f"{num(result['train_docs'])} documents ({num(result['tokens_per_run'])} bytes, {s['steps']} steps, one pass), "
        f"held-out loss on {num(result['heldout_windows'])} windows of {num(result['heldout_docs'])} documents held "
        f"out before ordering. Seeds {', '.join(seeds)}; {result['device']}; {result['seconds']:.0f} s in all.</p>"
    ]
    parts += [f'<p class="note">{esc(n)}</p>' for n in result.get("notes", [])]
    parts.append("<ul>" + "".join(f"<li>{esc(v)}</li>" for v in verdict(result)) + "</ul>")
    head = ["order"] + [f"step {steps[i]} ({num(tokens_at(result, steps[i]))} bytes)" for i in idx]
    rows = [[c.name] + [f"{c.mean[i]:.4f} ± {c.sd[i]:.4f}" for i in idx] for c in cs]
    rows += [[f"{d.name} − {BASELINE}"] + [f"{d.mean[i]:+.4f} ± {d.sd[i]:.4f}" for i in idx] for d in deltas(result)]
    parts.append(f"<h3>Held-out loss ({esc(result['unit'])}), mean ± sd over seeds</h3>" + html_table(head, rows))
    loss, delta = charts(result)
    parts.append(
        f'<div class="grid2"><figure>{loss}<figcaption>Mean over seeds; the band spans the lowest and highest '
        "seed.</figcaption></figure>"
    )
    if delta:
        parts.append(
            f"<figure>{delta}<figcaption>Per seed, each order's held-out loss minus the shuffled run from the same "
            "initial model; below the dashed zero line the order helps.</figcaption></figure>"
        )
    parts.append("</div>")
    per_seed = [[c.name, *(f"{v:.4f}" for v in c.values[:, -1])] for c in cs]
    parts.append(
        "<h3>Final held-out loss per seed</h3>" + html_table(["order"] + [f"seed {x}" for x in seeds], per_seed)
    )
    return Section("curriculum-eval", TITLE, "".join(parts))
