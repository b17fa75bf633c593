"""poll, select, epoll and eventfd (tests/guest_bins/polling.c) against qemu-arm-static."""

EXPECTED = """\
poll empty: n=1 in=0 out=1
poll data: n=1 in=1
select data: n=1 set=1
select timeout: n=0 waited>=45ms=1
epoll empty: n=0
epoll data: n=1 events_in=1 data=0x1122334455667788
eventfd read 3
eventfd empty read=-1 errno=EAGAIN
"""


def test_polling(guest_bins, assert_same_as_qemu):
    assert_same_as_qemu([guest_bins / "polling"], stdout=EXPECTED)
