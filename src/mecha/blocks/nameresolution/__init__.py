"""Name resolution: finding the runtime that serves an app id."""
