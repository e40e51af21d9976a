import pytest

pytestmark = pytest.mark.django_db


def test_list_and_reserve(ops, make_numbers, customer):
    make_numbers(3)
    r = ops.get("/numbers/")
    assert r.status_code == 200, r.content
    print(r.json())
    r = ops.post("/numbers/actions/reserve/", {"numbers": ["+6560000000", "+6560000009"], "remark": "x",
                                               "organization": str(customer.uuid)})
    print(r.status_code, r.json())
    r = ops.get("/numbers/%2B6560000000/")
    print(r.status_code, r.json(), r["ETag"])
    r = ops.post("/numbers/actions/reserve/", {"numbers": ["bad"]})
    print(r.status_code, r["Content-Type"], r.json())
    r = ops.get("/nope/")
    print(r.status_code, r["Content-Type"], r.json())
    r = ops.get("/schema/")
    print(r.status_code, r["Content-Type"])
    r = ops.get("/docs/")
    print(r.status_code, r.content[:300])
