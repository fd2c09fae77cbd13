"""The Audit page's view of a CLI run: pick one of the audit folders the operator lists (ATTNVIZ_AUDIT_DIRS),
watch its progress, open its report. Never a path typed in the browser."""

from __future__ import annotations

import streamlit as st

from ..audit.folders import AUDIT_DIRS_ENV, allowed_roots, audit_folders, folder_status, open_folder
from ..errors import AttnvizError
from .text import md_code, md_text, show_error

REPORT_HEIGHT = 1400


def folder_label(path, roots) -> str:
    """``root-name/relative/path`` of an audit folder (the server's full paths stay on the server)."""
    for root in roots:
        if path == root or root in path.parents:
            return f"{root.name}/{path.relative_to(root)}".rstrip("/.") or root.name
    return path.name


def show_audit_folder() -> None:
    """Choose a folder, show how far its run got and, once it finished, its report (report.html embedded)."""
    roots = allowed_roots()
    if not roots:
        st.info(f"No audit folders are configured: the server's operator lists them in {md_code(AUDIT_DIRS_ENV)} "
                "(directories separated by ':'); CLI runs (`python -m attnviz audit --out DIR`) under them show here.")
        st.stop()
    folders = audit_folders(roots)
    if not folders:
        st.info("No audit output folders under the configured directories yet.")
        st.stop()
    labels = {folder_label(f, roots): f for f in folders}
    choice = st.selectbox("CLI audit folder", list(labels), key="audit_folder",
                          help="Folders holding report.json or result shards, newest first.")
    try:
        status = folder_status(open_folder(labels[choice], roots))
    except AttnvizError as exc:
        show_error(exc)
        st.stop()
    st.button("Refresh", help="Read the folder again (a running audit adds a shard per chunk).")
    m1, m2, m3 = st.columns(3)
    m1.metric("Rows finished", f"{status.rows_done:,}")
    m2.metric("Shards", status.shards)
    m3.metric("State", "finished" if status.finished else "running or stopped")
    engine = status.engine or {}
    st.caption(md_text(f"Last update {status.updated_utc} UTC"
                       + (f" · engine {engine.get('name')}, {engine.get('workers')} worker(s)" if engine else "")))
    if not status.finished:
        st.info("The report appears here when the run finishes; a stopped run resumes with the same command.")
        st.stop()
    summary = status.summary or {}
    s1, s2, s3 = st.columns(3)
    s1.metric("Examples", f"{summary.get('ok', 0):,} / {summary.get('total', 0):,}")
    s2.metric("Accuracy", "n/a" if summary.get("accuracy") is None else f"{summary['accuracy']:.1%}")
    s3.metric("Errors", summary.get("errors", 0))
    for note in (status.dataset or {}).get("notes", []):
        st.caption(md_text(note))
    if status.html.is_file():
        import streamlit.components.v1 as components

        components.html(status.html.read_text(encoding="utf-8"), height=REPORT_HEIGHT, scrolling=True)
