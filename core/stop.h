// A stop request: SIGINT and SIGTERM set a flag that long-running loops poll (the trainer between
// micro-batches, generation between tokens), so a run ends at a safe point instead of being killed mid-write.
#pragma once

namespace lat {

// Installs SIGINT and SIGTERM handlers that set the flag.
void install_stop_handlers();
bool stop_requested();
void request_stop();
void clear_stop_request();  // tests

}  // namespace lat
