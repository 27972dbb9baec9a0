"""The dashboard's HTML (values are escaped by :func:`authward.server.pages.render`).

No JavaScript and no inline ``style`` attributes: the timeline's offsets and widths are classes
whose rules the page adds to its one stylesheet, allowed by the stylesheet's hash.
"""

from __future__ import annotations

from string import Template

# The sign-in pages' own message and alert, re-exported for the dashboard's pages.
from authward.server.templates import ALERT as ALERT
from authward.server.templates import MESSAGE as MESSAGE

CSS = (
    "body{font-family:system-ui,sans-serif;background:#f4f5f7;color:#1d2330;margin:0}"
    "header{background:#1d2330;color:#fff;padding:.6rem 1.5rem;display:flex;gap:1.2rem;"
    "align-items:center}header a{color:#fff}header .who{margin-left:auto;color:#c9cdd6}"
    "main{max-width:72rem;margin:1.5rem auto;background:#fff;padding:1.5rem 2rem;"
    "border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12)}"
    "h1{font-size:1.4rem;margin-top:0}h2{font-size:1.1rem;margin-top:1.6rem}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;"
    "border-bottom:1px solid #e3e5ea;vertical-align:top}th{font-weight:600;color:#5b6170}"
    "code,pre{font-family:ui-monospace,monospace;font-size:.85rem}"
    "pre{background:#f4f5f7;padding:.6rem;overflow:auto;max-height:24rem;margin:.2rem 0}"
    "form.filters{display:flex;gap:.8rem;align-items:end;flex-wrap:wrap;margin-bottom:1rem}"
    "label{display:block;font-size:.85rem;color:#5b6170;margin-bottom:.15rem}"
    "input[type=text],select,textarea{padding:.4rem;box-sizing:border-box}"
    "textarea{width:100%;min-height:5rem}button{padding:.45rem .9rem}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{color:#5b6170}"
    "dd{margin:0}.alert{color:#a4161a}.muted{color:#5b6170}.nw{white-space:nowrap}"
    ".job{border-top:1px solid #e3e5ea;padding-top:.8rem;margin-top:.8rem}"
    ".status{font-weight:600}.s-succeeded{color:#1b7f3b}.s-failed,.s-timed_out{color:#a4161a}"
    ".s-cancelled{color:#5b6170}.s-running,.s-queued,.s-waiting{color:#1f5fbf}"
    ".track{background:#eef0f3;height:.9rem;min-width:14rem;position:relative}"
    ".bar{height:.9rem;background:#1f5fbf}.bar.s-succeeded{background:#1b7f3b}"
    ".bar.s-failed{background:#a4161a}.bar.s-waiting{background:#9aa7bd}"
)

LAYOUT = Template(
    "<!doctype html>\n"
    '<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    '<meta name="referrer" content="no-referrer">$refresh'
    "<title>$title · authward</title><style>$css</style></head>\n"
    '<body><header><strong>authward</strong><a href="/dashboard">Runs</a>'
    '<a href="/dashboard/jobs">Jobs</a>'
    '<span class="who">$username · <a href="/oauth2/logout">Sign out</a></span></header>\n'
    "<main>\n$body\n</main></body></html>\n"
)
BARE_LAYOUT = Template(
    "<!doctype html>\n"
    '<html lang="en"><head><meta charset="utf-8">'
    '<meta name="referrer" content="no-referrer">'
    "<title>$title · authward</title><style>$css</style></head>\n"
    "<body><main>\n$body\n</main></body></html>\n"
)
REFRESH = Template('<meta http-equiv="refresh" content="$seconds">')


RUNS = Template(
    "<h1>Runs</h1>\n"
    "$alert"
    '<form class="filters" method="get" action="/dashboard">\n'
    '<div><label for="account_id">Account id</label>'
    '<input id="account_id" name="account_id" type="text" value="$account_id"></div>\n'
    '<div><label for="job_id">Job</label><select id="job_id" name="job_id">$job_options'
    "</select></div>\n"
    '<div><label for="status">Status</label><select id="status" name="status">$status_options'
    "</select></div>\n"
    '<div><button type="submit">Filter</button> <a href="/dashboard">Clear</a></div>\n'
    "</form>\n"
    "$table"
)
OPTION = Template('<option value="$value"$selected>$label</option>')
RUNS_TABLE = Template(
    '<table id="runs"><thead><tr><th>Run</th><th>Job</th><th>Status</th><th>Account id</th>'
    "<th>Invoker</th><th>Trigger</th><th>Started</th><th>Duration</th></tr></thead>\n"
    "<tbody>\n$rows</tbody></table>\n"
    '<p class="muted">$count</p>\n'
)
RUN_ROW = Template(
    '<tr><td><a href="/dashboard/runs/$id"><code>$id</code></a></td><td>$job</td>'
    '<td class="status s-$status">$status</td><td class="account">$account</td>'
    '<td>$invoker</td><td>$event</td><td class="nw">$started</td><td class="nw">$duration</td>'
    "</tr>\n"
)
NO_RUNS = Template('<p class="muted">$message</p>\n')

RUN = Template(
    "<h1>Run <code>$id</code></h1>\n"
    "$cancel"
    "<dl>\n"
    '<dt>Job</dt><dd><a href="/dashboard?job_id=$job_id">$job_id</a> $job_version</dd>\n'
    '<dt>Status</dt><dd class="status s-$status" id="run-status">$status</dd>\n'
    '<dt>Account id</dt><dd id="run-account">$account</dd>\n'
    "<dt>Invoker</dt><dd>$invoker</dd>\n"
    "<dt>Trigger</dt><dd>$event</dd>\n"
    "<dt>Environment</dt><dd>$environment</dd>\n"
    "<dt>Created</dt><dd>$created</dd>\n"
    "<dt>Started</dt><dd>$started</dd>\n"
    "<dt>Finished</dt><dd>$finished</dd>\n"
    "<dt>Duration</dt><dd>$duration</dd>\n"
    "<dt>Attempts</dt><dd>$attempts</dd>\n"
    "$resume"
    "</dl>\n"
    '<h2>Payload</h2>\n<pre id="payload">$payload</pre>\n'
    "$outcome"
    "<h2>Tasks</h2>\n$tasks"
    "<h2>Logs</h2>\n$logs"
)
RESUME = Template("<dt>Resumes</dt><dd>$at</dd>\n")
OUTPUT = Template('<h2>Output</h2>\n<pre id="output">$output</pre>\n')
ERROR = Template('<h2>Error</h2>\n<pre id="error" class="alert">$error</pre>\n')
CANCEL = Template(
    '<form method="post" action="/dashboard/runs/$id/cancel">'
    '<input type="hidden" name="csrf_token" value="$csrf">'
    '<button type="submit">Cancel run</button></form>\n'
)

TASKS = Template(
    '<table id="tasks"><thead><tr><th>#</th><th>Key</th><th>Status</th><th>Attempts</th>'
    "<th>Start</th><th>Duration</th><th>Timeline</th>$lineage_heads</tr></thead>\n"
    "<tbody>\n$rows</tbody></table>\n"
)
LINEAGE_HEADS = "<th>Integration</th><th>Credential source</th><th>Credential account</th>"
TASK_ROW = Template(
    '<tr class="task"><td>$seq</td><td><code>$key</code>$name$detail</td>'
    '<td class="status s-$status">$status</td><td>$attempts</td><td class="nw">$offset</td>'
    '<td class="nw">$duration</td>'
    '<td><div class="track"><div class="bar s-$status $bar"></div></div></td>'
    "$lineage</tr>\n"
)
TASK_NAME = Template('<div class="muted">$name</div>')
TASK_DETAIL = Template("<details><summary>$label</summary><pre>$text</pre></details>")
LINEAGE = Template("<td>$integration</td><td>$source</td><td>$account</td>")

LOGS = Template(
    '<table id="logs"><thead><tr><th>At</th><th>Level</th><th>Message</th><th>Data</th></tr>'
    "</thead>\n<tbody>\n$rows</tbody></table>\n"
)
LOG_ROW = Template(
    '<tr class="log"><td class="nw">$at</td><td class="level-$level">$level</td><td>$message</td>'
    "<td>$data</td></tr>\n"
)
LOG_DATA = Template("<code>$data</code>")

JOBS = Template("<h1>Jobs</h1>\n$alert$jobs")
JOB = Template(
    '<section class="job" id="job-$id">\n'
    '<h2><code>$id</code> $name <span class="muted">$version</span></h2>\n'
    '<p class="muted">$trigger · client $client · <a href="/dashboard?job_id=$id">runs</a></p>\n'
    "$alert"
    '<form method="post" action="/dashboard/jobs/test">\n'
    '<input type="hidden" name="csrf_token" value="$csrf">\n'
    '<input type="hidden" name="job_id" value="$id">\n'
    '<label for="payload-$id">Payload (JSON)</label>\n'
    '<textarea id="payload-$id" name="payload" spellcheck="false">$payload</textarea>\n'
    '<label for="account-$id">Account id</label>\n'
    '<input id="account-$id" name="account_id" type="text" maxlength="200" value="$account">\n'
    '<button type="submit">Test</button>\n'
    "</form>\n</section>\n"
)
