"""The only Prefect module: the curation flow, one task per shard (and per partition of a global stage),
on a process pool or a Dask cluster. Tasks exchange paths and small stats dicts, never tables.

No `from __future__ import annotations` here: it breaks pydantic flow parameters of deployment runs.
"""

import logging
import os
from collections.abc import Callable
from typing import Any

from pipeline import env

env.configure()

from prefect import flow, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact, create_table_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.futures import as_completed  # noqa: E402
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner  # noqa: E402

from pipeline import runner, stop  # noqa: E402
from pipeline.config import ConfigError, ExecutionConfig, RunConfig  # noqa: E402
from pipeline.io.files import InputError  # noqa: E402
from pipeline.staging import staged  # noqa: E402
from stages.core.stats import ConservationError  # noqa: E402

# Failures that a retry cannot fix: fail fast with the reason.
DETERMINISTIC = (ConfigError, InputError, ConservationError, ValueError, TypeError, KeyError)

_progress: runner.Progress | None = None


def _retry_transient(task, task_run, state) -> bool:
    try:
        state.result()
    except DETERMINISTIC:
        return False
    except Exception:
        return True
    return False


@task(
    cache_policy=NO_CACHE, persist_result=False, retries=2, retry_delay_seconds=2, retry_condition_fn=_retry_transient
)
def call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


def prefect_map(fn: Callable[[Any], Any], items: list, label: str = "") -> list:
    """`runner.MapFn` on Prefect tasks: one task run per item, named after the segment or pass."""
    named = call.with_options(name=label or getattr(fn, "__name__", "task"))
    with stop.workers_spared():
        futures = [named.submit(fn, item) for item in items]
    for done, f in enumerate(as_completed(futures), 1):
        f.result()  # a failed task (after its retries) ends the map at once and is never counted as done
        if _progress is not None:
            _progress(label, done, len(futures))
    return [f.result() for f in futures]


# a task run costs 0.1-0.45 s of Prefect's own work (NOTES.md): one per worker, of equal bytes (`runner.grouped`)
prefect_map.tasks_per_worker = 1


def make_task_runner(ex: ExecutionConfig):
    if ex.task_runner == "process":
        return ProcessPoolTaskRunner(max_workers=ex.workers, initializer=stop.worker_init, initargs=(os.getpid(),))
    if ex.task_runner in ("thread", "sequential"):
        return ThreadPoolTaskRunner(max_workers=1 if ex.task_runner == "sequential" else ex.workers)
    from prefect_dask import DaskTaskRunner

    if ex.dask_address:
        return DaskTaskRunner(address=ex.dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": ex.workers,
            "threads_per_worker": 1,
            "processes": True,
            "host": "127.0.0.1",
            "dashboard_address": None,
            "silence_logs": logging.WARNING,
        },
    )


@flow(name="jingxuan-curate", persist_result=False)
def curate(config: RunConfig, force: bool = False) -> runner.RunResult | None:
    """Entry flow (also the deployment's entrypoint): the run itself is a subflow whose task runner
    (process pool or Dask) comes from the config, so one deployment serves every executor. An input of at
    most one shard runs as one task in this process instead (not on Dask: a cluster was asked for)."""
    # stop_on_signals: in place of Prefect's SIGTERM bridge, which waits for running tasks
    with stop.stop_on_signals(None), staged(config) as config:
        prepared = runner.prepare(config, force)
        if prepared is None:
            return None
        if config.execution.task_runner != "dask" and prepared.small(config):
            result = curate_small(config, prepared)
            _artifacts(result)
            return result
        _share_api_url()
        return curate_shards.with_options(task_runner=make_task_runner(config.execution))(config, prepared)


@task(name="curate-small-input", cache_policy=NO_CACHE, persist_result=False)
def curate_small(config: RunConfig, prepared: Any) -> runner.RunResult:
    """An input of at most one shard: every stage and pass in one task in this process, so no worker
    process starts (each would import Prefect and set up jieba, OpenCC and the language model again)."""
    return runner.execute(config, runner.LocalMap("inline", progress=_progress), "prefect-inline", prepared)


@flow(name="jingxuan-shards", persist_result=False)
def curate_shards(config: RunConfig, prepared: Any = None) -> runner.RunResult | None:
    result = runner.execute(config, prefect_map, f"prefect-{config.execution.task_runner}", prepared)
    if result is not None:
        _artifacts(result)
    return result


def _share_api_url() -> None:
    """Worker processes inherit the environment: point them at this flow's API (the temporary server,
    when none is configured) instead of letting each start a temporary server of its own."""
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            os.environ["PREFECT_API_URL"] = str(client.api_url)


def _artifacts(result: runner.RunResult) -> None:
    from pipeline.report import funnel_records

    create_table_artifact(
        key="jingxuan-funnel", table=funnel_records(result.run_dir), description=f"Funnel of {result.run_dir}"
    )
    create_markdown_artifact(
        key="jingxuan-summary",
        markdown=f"report: `{os.path.join(result.run_dir, 'report.html')}`\n\n```\n{result.summary()}\n```",
        description="jingxuan run summary",
    )


def run_flow(cfg: RunConfig, progress: runner.Progress | None = None, force: bool = False) -> runner.RunResult | None:
    global _progress
    _progress = progress
    try:
        return curate.with_options(flow_run_name=cfg.name)(cfg, force)
    finally:
        _progress = None


def serve(cfg: RunConfig, cron: str | None = None, interval: float | None = None, name: str | None = None) -> None:
    """Serve the flow as a deployment on the configured Prefect API (blocks; runs appear in the UI)."""
    curate.serve(
        name=name or cfg.name,
        cron=cron,
        interval=interval,
        parameters={"config": cfg.model_dump(mode="json")},
        description=f"jingxuan curation of {cfg.input.paths} into {cfg.run_dir}",
        tags=["jingxuan"],
    )
