"""The admin import: upload → preview → confirm, error report, permissions, background jobs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import openpyxl
import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from inventory.choices import ImportJobStatus
from inventory.models import ImportJob, PhoneNumber
from tests.conftest import SAMPLES

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:inventory_phonenumber_import"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(client, name: str, *, data: bytes | None = None, **fields):
    content = data if data is not None else (SAMPLES / name).read_bytes()
    post = {"file": SimpleUploadedFile(name, content), "country": "SG", **fields}
    return client.post(reverse(IMPORT_URL), post)


def job_url(job: ImportJob, name: str = "import_job") -> str:
    return reverse(f"admin:inventory_phonenumber_{name}", args=[job.uuid])


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_upload_preview_confirm(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    assert client.get(reverse(IMPORT_URL)).status_code == 200
    response = upload(client, "numbers-basic.csv")
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.status == ImportJobStatus.PREVIEWED and job.created_count == 200
    assert PhoneNumber.objects.count() == 0, "the preview writes nothing"
    page = client.get(job_url(job)).content.decode()
    assert 'id="count-new">200<' in page and 'id="count-refused">0<' in page
    assert 'id="import-confirm"' in page and "disabled" not in page.split('id="import-confirm"')[1][:60]

    response = client.post(job_url(job, "import_confirm"))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJobStatus.DONE and job.confirmed_by == ops_user
    assert PhoneNumber.objects.count() == 200
    first = PhoneNumber.history.filter(e164="+6566000000").get()
    assert first.history_user == ops_user and first.history_change_reason == "numbers-basic.csv"
    assert any("imported" in m for m in texts(response))
    # Confirming twice does nothing more.
    client.post(job_url(job, "import_confirm"))
    assert PhoneNumber.history.count() == 200


def test_same_file_again_previews_as_unchanged(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    upload(client, "numbers-basic.csv")
    client.post(job_url(ImportJob.objects.get(), "import_confirm"))
    upload(client, "numbers-from-spreadsheet.xlsx")
    job = ImportJob.objects.order_by("-created_at").first()
    assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 0, 200)
    client.post(job_url(job, "import_confirm"))
    assert PhoneNumber.history.count() == 200


def test_refused_rows_all_or_nothing_then_valid_only(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    upload(client, "numbers-with-errors.csv")
    job = ImportJob.objects.get()
    assert (job.created_count, job.rejected_count) == (3, 8)
    page = client.get(job_url(job)).content.decode()
    assert "unknown vendor &#x27;No Such Vendor&#x27;" in page
    assert "<td>7</td><td>vendor: unknown vendor" in page
    assert 'id="error-report-link"' in page and 'id="error-report-xlsx-link"' in page
    assert 'id="import-confirm"' in page and "disabled" in page.split('id="import-confirm"')[1][:60]

    response = client.post(job_url(job, "import_confirm"))  # without "valid only": refused
    assert any("Nothing imported" in m for m in texts(response))
    assert PhoneNumber.objects.count() == 0
    job.refresh_from_db()
    assert job.status == ImportJobStatus.PREVIEWED

    client.post(job_url(job, "import_confirm"), {"valid_only": "1"})
    job.refresh_from_db()
    assert job.status == ImportJobStatus.DONE and not job.all_or_nothing
    assert sorted(PhoneNumber.objects.values_list("e164", flat=True)) == [
        "+6567000001", "+6567000002", "+6567000003"]


def test_error_report_download(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    upload(client, "numbers-with-errors.csv")
    job = ImportJob.objects.get()
    response = client.get(job_url(job, "import_errors"))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(text.splitlines()))
    assert rows[0] == ["number", "country", "vendor", "sku", "capabilities", "routing", "golden",
                       "ported_in", "tags", "notes", "row", "reason"]
    assert [r[-2] for r in rows[1:]] == ["5", "6", "7", "8", "9", "10", "11", "12"]
    assert rows[3][2] == "No Such Vendor" and rows[3][-1] == "vendor: unknown vendor 'No Such Vendor'"
    assert rows[-1][0].startswith("'=HYPERLINK")


def test_error_report_download_as_xlsx(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    upload(client, "numbers-with-errors.csv")
    job = ImportJob.objects.get()
    response = client.get(job_url(job, "import_errors_xlsx"))
    assert response.status_code == 200
    assert 'filename="numbers-with-errors-errors.xlsx"' in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert [c.value for c in sheet[1]][-2:] == ["row", "reason"] and sheet.freeze_panes == "A2"
    assert all(c.font.bold for c in sheet[1])
    last = [c for c in sheet[9]]
    assert last[-2].value == 12 and last[0].value.startswith("=HYPERLINK") and last[0].data_type == "s"
    other = client.get(job_url(ImportJob.objects.create(original_name="x.csv", created_by=ops_user),
                               "import_errors_xlsx"))
    assert other.status_code == 404


def test_default_country_from_the_form(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    data = b"number,vendor,sku\n6700 0041,M1 Trunks,SG-DID-STD\n"
    upload(client, "national.csv", data=data, country="sg")
    job = ImportJob.objects.get()
    assert job.country == "SG" and job.created_count == 1, job.message


def test_zip_bomb_upload_is_refused_on_the_form(client, ops_user, sample_catalog, tmp_path):
    client.force_login(ops_user)
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"<" * (32 * 1024 * 1024))
    response = upload(client, "bomb.xlsx", data=path.read_bytes())
    assert response.status_code == 200 and "zip bomb" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_oversize_upload_is_refused_on_the_form(client, ops_user, sample_catalog, settings):
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_MAX_BYTES": 1024}
    client.force_login(ops_user)
    response = upload(client, "numbers-basic.csv")
    assert response.status_code == 200 and "at most" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_someone_elses_job_is_not_shown(client, ops_user, admin_user, sample_catalog):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    client.force_login(ops_user)
    upload(client, "numbers-basic.csv")
    job = ImportJob.objects.get()
    colleague = get_user_model().objects.create_user("ops2", password="pw", is_staff=True)
    colleague.groups.add(Group.objects.get(name="Ops"))
    client.force_login(colleague)
    assert client.get(job_url(job)).status_code == 403
    assert client.post(job_url(job, "import_confirm")).status_code == 403
    client.force_login(admin_user)
    assert client.get(job_url(job)).status_code == 200


# --- background jobs ----------------------------------------------------------------------


@pytest.fixture
def eager():
    from numbermgmt.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_large_file_runs_as_a_background_job(client, ops_user, sample_catalog, settings, eager,
                                             django_capture_on_commit_callbacks):
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_BACKGROUND_ROWS": 50}
    client.force_login(ops_user)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        upload(client, "numbers-basic.csv")
    job = ImportJob.objects.get()
    assert job.status == ImportJobStatus.PENDING and job.total_rows == 200 and len(queued) == 1
    page = client.get(job_url(job)).content.decode()
    assert 'id="import-progress"' in page
    progress = client.get(job_url(job, "import_progress")).json()
    assert progress["working"] and progress["phase"] == "preview"

    queued[0]()  # the commit happens: the (eager) worker previews the file
    job.refresh_from_db()
    assert job.status == ImportJobStatus.PREVIEWED and job.created_count == 200

    with django_capture_on_commit_callbacks(execute=True):
        client.post(job_url(job, "import_confirm"))
    job.refresh_from_db()
    assert job.status == ImportJobStatus.DONE and job.progress_percent == 100
    assert PhoneNumber.objects.count() == 200
    progress = client.get(job_url(job, "import_progress")).json()
    assert not progress["working"] and progress["counts"]["new"] == 200


def test_task_runs_a_job_and_a_second_delivery_is_a_no_op(ops_user, sample_catalog):
    from inventory.tasks import import_job_task as import_job

    job = ImportJob.objects.create(
        file=SimpleUploadedFile("numbers-legacy.xls", (SAMPLES / "numbers-legacy.xls").read_bytes()),
        original_name="numbers-legacy.xls", created_by=ops_user)
    assert import_job(job.pk) == ImportJobStatus.PREVIEWED
    assert import_job(job.pk) == ImportJobStatus.PREVIEWED  # redelivered: nothing runs again
    job.refresh_from_db()
    job.confirmed_at, job.confirmed_by = timezone.now(), ops_user
    job.save()
    assert import_job(job.pk, confirm=True) == ImportJobStatus.DONE
    assert import_job(job.pk, confirm=True) == ImportJobStatus.DONE
    assert PhoneNumber.objects.count() == 200 and PhoneNumber.history.count() == 200


def test_beat_resumes_a_job_whose_enqueue_was_missed(ops_user, sample_catalog):
    from inventory.tasks import import_jobs_resume_task as import_jobs_resume

    job = ImportJob.objects.create(
        file=SimpleUploadedFile("numbers-basic.csv", (SAMPLES / "numbers-basic.csv").read_bytes()),
        original_name="numbers-basic.csv", created_by=ops_user)
    assert import_jobs_resume() == 0  # too fresh: its own task may still be on the way
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    assert import_jobs_resume() == 1
    job.refresh_from_db()
    assert job.status == ImportJobStatus.PREVIEWED


def test_broker_down_leaves_the_job_queued(client, ops_user, sample_catalog, settings, monkeypatch,
                                           django_capture_on_commit_callbacks):
    from inventory.tasks import import_job_task as import_job

    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(import_job, "apply_async", refuse)
    settings.NUMBERMGMT = {**settings.NUMBERMGMT, "IMPORT_BACKGROUND_ROWS": 50}
    client.force_login(ops_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, "numbers-basic.csv")
    assert response.status_code == 302
    assert ImportJob.objects.get().status == ImportJobStatus.PENDING


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=["default", "progress"])
def test_progress_is_visible_while_the_import_transaction_is_open(ops_user, sample_catalog):
    """The import holds one transaction; progress goes through the second alias (autocommit)."""
    import psycopg
    from django.db import connection, transaction

    from inventory.imports import JobProgress
    from inventory.services.import_jobs import import_job_progress_close

    job = ImportJob.objects.create(file="imports/x.csv", original_name="x.csv", created_by=ops_user,
                                   status=ImportJobStatus.RUNNING, total_rows=1000)
    progress = JobProgress(job.pk, every=0)
    try:
        with transaction.atomic():
            PhoneNumber.objects.exists()  # the main connection is inside its transaction
            progress(400)
            conf = connection.settings_dict
            with psycopg.connect(dbname=conf["NAME"], user=conf["USER"], host=conf["HOST"],
                                 port=conf["PORT"] or None, password=conf["PASSWORD"] or None) as other:
                seen = other.execute("SELECT processed_rows FROM inventory_importjob WHERE id = %s",
                                     [job.pk]).fetchone()[0]
        assert seen == 400
    finally:
        import_job_progress_close()


def test_export_buttons_say_who_each_format_is_for(client, ops_user):
    client.force_login(ops_user)
    html = client.get(reverse("admin:inventory_phonenumber_changelist")).content.decode()
    csv_link = html.split('id="export-csv-link"')[1].split("</a>")[0]
    xlsx_link = html.split('id="export-xlsx-link"')[1].split("</a>")[0]
    assert csv_link.endswith(">CSV (for systems)") and xlsx_link.endswith(">XLSX (for spreadsheets)")
