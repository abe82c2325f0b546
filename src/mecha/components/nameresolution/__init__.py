"""Name resolvers (`nameresolution.*`): how a runtime finds the runtimes serving an app id.

- `local`  (default) runtimes on one host, through files in the shared data folder
- `redis`  runtimes on several hosts, through leases in a shared Redis
- `static` fixed addresses written in the configuration
- `dns`    one DNS name per app id, as Kubernetes Services give

Each module's docstring lists its configuration fields.
"""
