"""Reusable pieces for benchmarks: start servers on free ports, drive wrk, sample /proc."""

from benchmarks.harness.load import LoadResult, LoadSettings, LoadSummary, measure_load, summarise
from benchmarks.harness.probe import NotReadyError, get, wait_for_status
from benchmarks.harness.servers import (
    MECHA_READY_PATH,
    NGINX_PATH,
    Server,
    free_port,
    mecha_command,
    start_mecha,
    start_nginx,
)
from benchmarks.harness.tools import ensure_programs, program_version
from benchmarks.harness.wrk import WrkResult, run_wrk

__all__ = [
    "MECHA_READY_PATH",
    "NGINX_PATH",
    "LoadResult",
    "LoadSettings",
    "LoadSummary",
    "NotReadyError",
    "Server",
    "WrkResult",
    "ensure_programs",
    "free_port",
    "get",
    "measure_load",
    "mecha_command",
    "program_version",
    "run_wrk",
    "start_mecha",
    "start_nginx",
    "summarise",
    "wait_for_status",
]
