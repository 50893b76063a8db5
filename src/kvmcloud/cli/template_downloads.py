"""Follow the per-pool download jobs a prepareTemplate reply lists, showing progress per pool."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from kvmcloud.cli.api_client import (
    ApiCallError,
    ApiClient,
    JobStatus,
    JsonObject,
    job_error,
    job_progress_percent,
    job_status,
)
from kvmcloud.cli.progress import ProgressDisplay


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolDownload:
    """One ``downloaddetails`` entry: a pool and, while it is being filled, its job."""

    label: str
    details: JsonObject
    jobid: str | None
    percent: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolOutcome:
    """How one pool's download ended; ``reply`` is the job's last reply, if it had a job."""

    download: PoolDownload
    reply: JsonObject | None

    @property
    def error(self) -> ApiCallError | None:
        """The job's error, or None when it succeeded or there was no job to follow."""
        if self.reply is None or job_status(self.reply) is JobStatus.SUCCEEDED:
            return None
        return job_error(self.reply)

    def to_json(self) -> JsonObject:
        """Render the outcome: the pool and the job's final status and result."""
        if self.reply is None:
            return dict(self.download.details)
        details = self.download.details
        return {
            "datastore": details.get("datastore"),
            "datastoreid": details.get("datastoreid"),
            "jobid": self.download.jobid,
            "jobstatus": self.reply.get("jobstatus"),
            "jobresult": self.reply.get("jobresult"),
        }


def pool_downloads(reply: JsonObject) -> list[PoolDownload]:
    """List the ``downloaddetails`` entries of every template in a template-list reply."""
    downloads = []
    templates = reply.get("template")
    for template in templates if isinstance(templates, list) else []:
        entries = template.get("downloaddetails") if isinstance(template, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                downloads.append(_pool_download(entry))
    return downloads


def follow_pool_downloads(
    client: ApiClient,
    downloads: Sequence[PoolDownload],
    stream: TextIO,
    *,
    redraw: bool,
    poll_interval_s: float,
    timeout_s: float,
) -> list[PoolOutcome]:
    """Poll every pool's job until all are final, drawing progress on ``stream``.

    Raises:
        JobTimeoutError: some jobs were still running after ``timeout_s``.
    """
    display = ProgressDisplay(stream, [download.label for download in downloads], redraw=redraw)
    index_of_job: dict[str, int] = {}
    for index, download in enumerate(downloads):
        if download.jobid is None:
            state = download.details.get("downloadState")
            display.finish(index, str(state) if state else "no job", percent=download.percent)
        else:
            index_of_job[download.jobid] = index
            display.update(index, download.percent)

    def show(jobid: str, reply: JsonObject) -> None:
        index = index_of_job[jobid]
        status = job_status(reply)
        if status is JobStatus.PENDING:
            percent = job_progress_percent(reply)
            if percent is not None:
                display.update(index, percent)
        elif status is JobStatus.SUCCEEDED:
            display.finish(index, "done", percent=100)
        else:
            error = job_error(reply)
            display.finish(index, f"failed ({error.code}: {error.text})")

    replies = client.wait_for_jobs(
        list(index_of_job), poll_interval_s=poll_interval_s, timeout_s=timeout_s, on_progress=show
    )
    return [
        PoolOutcome(
            download=download,
            reply=None if download.jobid is None else replies[download.jobid],
        )
        for download in downloads
    ]


def _pool_download(entry: JsonObject) -> PoolDownload:
    jobid = entry.get("jobid")
    label = entry.get("datastore") or entry.get("datastoreid") or jobid or "?"
    percent = entry.get("downloadPercent")
    return PoolDownload(
        label=str(label),
        details=entry,
        jobid=str(jobid) if jobid else None,
        percent=percent if isinstance(percent, int) and not isinstance(percent, bool) else 0,
    )
