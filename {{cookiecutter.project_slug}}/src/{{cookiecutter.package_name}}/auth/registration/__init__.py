"""POST /auth/register: anyone may create an account, under a password policy and throttling.

Registration necessarily says whether a username is free (409), which is how anyone can
learn that an account exists. That is accepted here, as on most sign-up forms, and made
expensive instead: a 409 costs the same password hash as a success (the insert decides, after
hashing), it needs a password that passes the policy first, and it counts against the same
per-username throttle as failed logins. Hiding it fully needs an out-of-band step (a mail
with a link), which this template does not have.
"""
