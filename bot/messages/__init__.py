"""Block Kit builders: pure functions from domain data to Slack messages and views, one module per surface.

`kit` holds the building blocks and Slack's limits; `forms`, `notices`, `reminders`, `home` and
`digest` build what people see. Services and listeners both use them; nothing here does I/O.
"""
