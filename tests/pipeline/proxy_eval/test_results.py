from pipeline.proxy_eval.results import deltas, text_table, verdict


def _result(final: dict[str, list[float]]) -> dict:
    runs = {
        name: {str(s): {"steps": [0, 10], "heldout_loss": [5.5, v]} for s, v in enumerate(values)}
        for name, values in final.items()
    }
    return {"runs": runs, "unit": "nats per byte", "settings": {"model": {"batch_size": 4, "context": 8}}}


def test_verdict_is_a_paired_t_test_over_seeds():
    r = _result({"curriculum": [3.0, 3.5, 4.0], "shuffle": [3.1, 3.6, 4.1], "reverse": [3.0, 3.7, 4.0]})
    assert abs(deltas(r)[0].mean[-1] + 0.1) < 1e-12  # paired: the seed spread of 0.5 cancels
    cur, rev = verdict(r)
    assert "beyond seed noise" in cur and "helps" in cur
    assert "within seed noise" in rev  # -0.1, +0.1, -0.1: the mean is inside 4.3 standard errors
    assert "curriculum - shuffle" in text_table(r)
