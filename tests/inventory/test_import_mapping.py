"""Column mapping (JeraSoft's "specify columns names"): aliases, the admin's mapping step
remembered per header set, the command's --map and defaults, and the Client column."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from inventory import exports
from inventory.choices import ImportJobStatus, NumberState
from inventory.imports import header_read, import_file, import_options
from inventory.models import ImportJob, ImportMapping, PhoneNumber

pytestmark = pytest.mark.django_db

ODD = ("Nummer;Lieferant;Artikel;Farbe\n"
       "+6566100001;M1 Trunks;SG-DID-STD;rot\n"
       "+6566100002;StarHub Carrier;SG-DID-GOLD;blau\n")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def write(tmp_path, text: str, name: str = "numbers.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def upload(client, text: str, name: str = "odd.csv", **fields):
    post = {"file": SimpleUploadedFile(name, text.encode()), "country": "SG", **fields}
    return client.post(reverse("admin:inventory_phonenumber_import"), post)


def url(job: ImportJob, name: str = "import_job") -> str:
    return reverse(f"admin:inventory_phonenumber_{name}", args=[job.uuid])


# --- aliases: no mapping step -----------------------------------------------------------


def test_the_seeds_header_names_need_no_mapping(tmp_path, sample_catalog, ops_user):
    path = write(tmp_path, "Phone No.,Carrier,Product,Status,Tag,Comment\n"
                           "+6566100001,M1 Trunks,SG-DID-STD,In stock,batch-x,from JeraSoft\n"
                           "6566100002,StarHub Carrier,SG-DID-GOLD,,,\n")
    assert not import_options(header_read(path), country="SG").needs_mapping
    summary = import_file(path, actor=ops_user, country="SG")
    assert summary.imported and summary.created == 2, summary.message()
    n = PhoneNumber.objects.select_related("vendor", "sku").get(e164="+6566100001")
    assert (n.vendor.name, n.sku.code, n.tag_list, n.notes, n.state) == (
        "M1 Trunks", "SG-DID-STD", ["batch-x"], "from JeraSoft", NumberState.AVAILABLE)
    assert "Phone No. → number" in summary.message() and "Carrier → vendor" in summary.message()


@pytest.mark.parametrize("header", ["DID", "DID Number", "Phone Number", "Number", "phone_no"])
def test_number_aliases(tmp_path, sample_catalog, ops_user, header):
    path = write(tmp_path, f"{header},Operator,SKU,Country\n+6566100009,M1 Trunks,SG-DID-STD,SG\n")
    assert import_file(path, actor=ops_user).created == 1


def test_our_own_export_imports_back_without_a_mapping_step(tmp_path, sample_catalog, ops_user):
    import_file(write(tmp_path, "number,country,vendor,sku,notes\n+6566100001,SG,M1 Trunks,SG-DID-STD,a\n"
                                "+6566100002,SG,M1 Trunks,SG-DID-GOLD,b\n"), actor=ops_user)
    exported = tmp_path / "export.csv"
    exported.write_bytes(b"".join(exports.csv_chunks(PhoneNumber.objects.all())))
    header = header_read(exported)
    assert {"package", "reseller"} <= {str(h) for h in header}
    options = import_options(header)
    assert not options.needs_mapping
    summary = import_file(exported, actor=ops_user)
    assert summary.imported and (summary.created, summary.changed, summary.unchanged) == (0, 0, 2)


# --- the command: --map, --vendor, --sku ------------------------------------------------


def test_command_map(tmp_path, sample_catalog, capsys):
    path = write(tmp_path, ODD)
    call_command("import_numbers", str(path), "--map", "Nummer=number,Lieferant=vendor,Artikel=sku,Farbe=",
                 "--country", "SG")
    out = capsys.readouterr().out
    assert "2 new" in out and "ignored columns: Farbe" in out
    assert PhoneNumber.objects.get(e164="+6566100002").vendor.name == "StarHub Carrier"


def test_command_without_map_names_what_is_missing(tmp_path, sample_catalog):
    with pytest.raises(CommandError) as error:
        call_command("import_numbers", str(write(tmp_path, ODD)), "--country", "SG")
    assert error.value.returncode == 2 and "missing columns: number, vendor, sku" in str(error.value)
    assert not PhoneNumber.objects.exists()


@pytest.mark.parametrize(("spec", "reason"), [
    ("Nummer=phone", "'phone' is not a column an import reads"),
    ("Nummer=number,Lieferant=number,Artikel=sku", "appears twice"),
    ("Colour=number", "the mapping names column the file does not have: Colour"),
    ("Nummer", "write Header=field"),
])
def test_command_bad_map_is_refused_whole(tmp_path, sample_catalog, spec, reason):
    with pytest.raises(CommandError) as error:
        call_command("import_numbers", str(write(tmp_path, ODD)), "--map", spec, "--country", "SG")
    assert error.value.returncode == 2 and reason in str(error.value)
    assert not PhoneNumber.objects.exists()


def test_command_defaults_stand_in_for_absent_columns(tmp_path, sample_catalog, capsys):
    path = write(tmp_path, "DID\n66100001\n66100002\n")
    call_command("import_numbers", str(path), "--vendor", "m1 trunks", "--sku", "SG-DID-GOLD",
                 "--country", "SG")
    assert "defaults: vendor m1 trunks, SKU SG-DID-GOLD" in capsys.readouterr().out
    assert set(PhoneNumber.objects.values_list("e164", "vendor__name", "sku__code", "country")) == {
        ("+6566100001", "M1 Trunks", "SG-DID-GOLD", "SG"), ("+6566100002", "M1 Trunks", "SG-DID-GOLD", "SG")}
    with pytest.raises(CommandError) as error:
        call_command("import_numbers", str(path), "--vendor", "Nobody", "--sku", "SG-DID-GOLD",
                     "--country", "SG")
    assert "unknown vendor 'Nobody' (the default vendor)" in str(error.value)


def test_a_vendor_column_wins_over_the_default(tmp_path, sample_catalog, ops_user):
    path = write(tmp_path, "number,country,vendor,sku\n+6566100001,SG,StarHub Carrier,SG-DID-STD\n")
    import_file(path, actor=ops_user, vendor="M1 Trunks")
    assert PhoneNumber.objects.get().vendor.name == "StarHub Carrier"


# --- the admin's mapping step -----------------------------------------------------------


def test_admin_mapping_step_then_preview_confirm_and_remembered(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    response = upload(client, ODD)
    job = ImportJob.objects.get()
    assert response["Location"] == url(job, "import_mapping")
    assert job.status == ImportJobStatus.PENDING and not PhoneNumber.objects.exists()
    # The job page sends the importer back to the mapping step while it waits for it.
    assert client.get(url(job))["Location"] == url(job, "import_mapping")
    page = client.get(url(job, "import_mapping")).content.decode()
    assert "<code>Nummer</code>" in page and "<code>rot</code>" in page

    response = client.post(url(job, "import_mapping"), {
        "column_0": "number", "column_1": "vendor", "column_2": "sku", "column_3": ""})
    assert response["Location"] == url(job)
    job.refresh_from_db()
    assert job.status == ImportJobStatus.PREVIEWED and job.created_count == 2
    assert "Nummer → number" in job.message and "ignored columns: Farbe" in job.message
    assert 'id="import-mapping-link"' in client.get(url(job)).content.decode()
    client.post(url(job, "import_confirm"))
    job.refresh_from_db()
    assert job.status == ImportJobStatus.DONE and PhoneNumber.objects.count() == 2

    # The next file with the same headers (case aside) goes straight to its preview.
    saved = ImportMapping.objects.get()
    assert saved.created_by == ops_user and saved.mapping["columns"]["Farbe"] == ""
    response = upload(client, ODD.replace("Nummer", "NUMMER").replace("+6566100001", "+6566100003"),
                      name="next.csv")
    second = ImportJob.objects.order_by("-created_at").first()
    assert response["Location"] == url(second)
    assert second.status == ImportJobStatus.PREVIEWED
    assert (second.created_count, second.unchanged_count) == (1, 1)


def test_admin_mapping_step_refuses_a_bad_mapping_and_saves_nothing(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    upload(client, ODD)
    job = ImportJob.objects.get()
    twice = client.post(url(job, "import_mapping"), {
        "column_0": "number", "column_1": "number", "column_2": "sku", "column_3": ""})
    assert twice.status_code == 200 and "appears twice in the header" in twice.content.decode()
    no_vendor = client.post(url(job, "import_mapping"), {
        "column_0": "number", "column_1": "", "column_2": "sku", "column_3": ""})
    assert "Choose a column or a default for: vendor." in no_vendor.content.decode()
    assert not ImportMapping.objects.exists()
    job.refresh_from_db()
    assert job.status == ImportJobStatus.PENDING
    # A default vendor instead of the column.
    client.post(url(job, "import_mapping"), {
        "column_0": "number", "column_1": "", "column_2": "sku", "column_3": "", "vendor": "M1 Trunks"})
    job.refresh_from_db()
    assert job.status == ImportJobStatus.PREVIEWED and "defaults: vendor M1 Trunks" in job.message


def test_admin_upload_defaults_skip_the_mapping_step(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    response = upload(client, "DID Number\n66100001\n", vendor="StarHub Carrier", sku="SG-DID-STD")
    job = ImportJob.objects.get()
    assert response["Location"] == url(job)
    assert job.status == ImportJobStatus.PREVIEWED and job.created_count == 1
    client.post(url(job, "import_confirm"))
    n = PhoneNumber.objects.get()
    assert (n.e164, n.vendor.name, n.sku.code) == ("+6566100001", "StarHub Carrier", "SG-DID-STD")


def test_admin_remapping_a_previewed_file_checks_it_again(client, ops_user, sample_catalog):
    client.force_login(ops_user)
    upload(client, ODD)
    first = ImportJob.objects.get()
    client.post(url(first, "import_mapping"), {
        "column_0": "number", "column_1": "vendor", "column_2": "sku", "column_3": ""})
    # Farbe is really the notes: map again from the preview page.
    response = client.post(url(first, "import_mapping"), {
        "column_0": "number", "column_1": "vendor", "column_2": "sku", "column_3": "notes"})
    second = ImportJob.objects.exclude(pk=first.pk).get()
    assert response["Location"] == url(second)
    assert second.status == ImportJobStatus.PREVIEWED and "ignored columns" not in second.message
    client.post(url(second, "import_confirm"))
    assert PhoneNumber.objects.get(e164="+6566100001").notes == "rot"


# --- Client -----------------------------------------------------------------------------


CLIENT_HEAD = "DID,Carrier,Product,Status,Client\n"


def test_client_names_the_organization_of_reserved_rows(tmp_path, sample_catalog, ops_user, customer):
    path = write(tmp_path, CLIENT_HEAD + f"+6566100001,M1 Trunks,SG-DID-STD,reserved,{customer.name}\n"
                                         f"+6566100002,M1 Trunks,SG-DID-STD,reserved,{customer.uuid}\n")
    summary = import_file(path, actor=ops_user, country="SG")
    assert summary.imported, summary.errors
    assert set(PhoneNumber.objects.values_list("state", "organization")) == {
        (NumberState.RESERVED, customer.pk)}


def test_client_of_active_rows_is_its_one_active_service(tmp_path, sample_catalog, ops_user, customer,
                                                         other_customer, make_subscription):
    service = make_subscription(customer)
    make_subscription(other_customer)
    make_subscription(other_customer)
    path = write(tmp_path, CLIENT_HEAD + f"+6566100001,M1 Trunks,SG-DID-STD,Active,{customer.name}\n"
                                         f"+6566100002,M1 Trunks,SG-DID-STD,Used,{other_customer.name}\n")
    summary = import_file(path, actor=ops_user, country="SG", all_or_nothing=False)
    assert [(e.row, e.column) for e in summary.errors] == [(3, "subscription")]
    assert "Gamma Customer has several active service subscriptions" in summary.errors[0].reason
    n = PhoneNumber.objects.get()
    assert (n.e164, n.state, n.subscription_id) == ("+6566100001", NumberState.ASSIGNED, service.pk)


def test_client_and_subscription_must_agree(tmp_path, sample_catalog, ops_user, customer, other_customer,
                                            make_subscription):
    theirs = make_subscription(other_customer)
    path = write(tmp_path, "DID,Carrier,Product,Status,Client,Subscription\n"
                           f"+6566100001,M1 Trunks,SG-DID-STD,assigned,{customer.name},{theirs.uuid}\n")
    summary = import_file(path, actor=ops_user, country="SG")
    assert not summary.imported and not PhoneNumber.objects.exists()
    [error] = summary.errors
    assert error.column == "organization" and "belongs to Gamma Customer, not Beta Customer" in error.reason
