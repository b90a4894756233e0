"""Window classification: which sensitive category a window shows, from its app, title
and (with the browser extension) its URL.

``normalize`` folds text before any rule sees it; ``apps`` says what kind of app a
window belongs to (browser, document viewer, code editor, terminal); ``taxonomy``
loads the category data shipped per language pack (``packs/*.toml``); ``classifier``
decides; ``urls`` reduces a URL to what the policy lets the agent store.
"""
