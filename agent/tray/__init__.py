"""The tray icon: state shown from what the daemon measures, and its menu."""
