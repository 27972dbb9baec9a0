"""The page bodies (see :mod:`authward.server.pages` for how values are escaped)."""

from __future__ import annotations

from string import Template

LOGIN = Template(
    "<h1>Sign in</h1>\n"
    "$context$alert"
    '<form method="post" action="/login">\n'
    '<input type="hidden" name="csrf_token" value="$csrf">\n'
    '<input type="hidden" name="ticket" value="$ticket">\n'
    '<input type="hidden" name="return_to" value="$return_to">\n'
    '<label for="username">Username</label>\n'
    '<input id="username" name="username" type="text" autocomplete="username" '
    'autocapitalize="none" spellcheck="false" maxlength="320" value="$username" required>\n'
    '<label for="password">Password</label>\n'
    '<input id="password" name="password" type="password" autocomplete="current-password" '
    'maxlength="1024" required>\n'
    '<button type="submit">Sign in</button>\n'
    "</form>\n"
    "$external"
)
LOGIN_CONTEXT = Template('<p class="muted">to continue to <strong>$client</strong></p>\n')
ALERT = Template('<p class="alert" role="alert">$message</p>\n')
EXTERNAL_LINK = Template('<p><a href="$href">Sign in with $provider</a></p>\n')

CONSENT = Template(
    "<h1>Allow access?</h1>\n"
    "<p><strong>$client</strong> wants to access your account.</p>\n"
    "$description"
    "<p>It asks to:</p>\n<ul>\n$scopes</ul>\n"
    '<p class="muted">Signed in as $username.</p>\n'
    '<form method="post" action="/consent">\n'
    '<input type="hidden" name="csrf_token" value="$csrf">\n'
    '<input type="hidden" name="ticket" value="$ticket">\n'
    '<button type="submit" name="decision" value="allow">Allow</button>\n'
    '<button type="submit" name="decision" value="deny">Deny</button>\n'
    "</form>\n"
)
DESCRIPTION = Template('<p class="muted">$text</p>\n')
CLIENT_FACTS = Template('<ul class="muted">\n$items</ul>\n')
SCOPE_ITEM = Template("<li>$text</li>\n")

MESSAGE = Template("<h1>$heading</h1>\n<p>$message</p>\n")

LOGOUT_CONFIRM = Template(
    "<h1>Sign out?</h1>\n"
    "<p>$message</p>\n"
    '<form method="post" action="/oauth2/logout">\n'
    '<input type="hidden" name="csrf_token" value="$csrf">\n'
    '<input type="hidden" name="ticket" value="$ticket">\n'
    '<button type="submit">Sign out</button>\n'
    "</form>\n"
)

SIGNED_IN = Template(
    "<h1>Signed in</h1>\n<p>You are signed in as <strong>$username</strong>.</p>\n"
    '<p><a href="/oauth2/logout">Sign out</a></p>\n'
)

#: What each scope lets the client do, in the user's words.
SCOPE_TEXT = {
    "openid": "Know who you are (your account id)",
    "profile": "Read your profile",
    "email": "Read your email address",
    "offline_access": "Keep access while you are not using it",
}
