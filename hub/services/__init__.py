"""Services: the changes the hub's adapters ask for, each checked, written and made live in one
place. The command line, the admin API and the dashboard translate their input into a call
here and the answer (or refusal) back into their own output; none of them writes apps to the
store itself. hub/services/apps.py manages apps."""
