# With no --resources-path, mecha serves its embedded default components, as `mecha run` does
# for a user: the Python SDK's metadata lists a state store named `statestore`.
from dapr.clients import DaprClient
from tests.acceptance.python.support import app_id, expect, expect_equal

with DaprClient() as client:
    metadata = client.get_metadata()

expect_equal("application id", metadata.application_id, app_id())
components = {c.name: c for c in metadata.registered_components}
print(f"default components: {components}")
expect("a default 'statestore' is registered", "statestore" in components, components)
statestore = components["statestore"]
expect("it is a state store", statestore.type.startswith("state."), statestore)
