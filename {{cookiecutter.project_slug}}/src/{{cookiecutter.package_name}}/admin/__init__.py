"""The admin API (`/admin/users`): list users, change roles, deactivate and reactivate
accounts, end sessions. Every route needs the `admin` scope and a recent login."""
