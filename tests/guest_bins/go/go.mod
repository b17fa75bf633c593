module pyuser.test/guestgo

go 1.19
