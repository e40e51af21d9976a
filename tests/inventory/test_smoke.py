def test_reserve_then_assign(make_numbers, customer, service, ops_user, now):
    from inventory.services import number_assign, number_reserve

    numbers = make_numbers(3)
    r = number_reserve(numbers=numbers, organization=customer, actor=ops_user, remark="hold", now=now)
    assert len(r.done) == 3
    a = number_assign(numbers=numbers, subscription=service, actor=ops_user, remark="go", now=now)
    assert len(a.done) == 3, a.rejected
