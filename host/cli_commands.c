/* The subcommand table. Parts of llmpipe add their commands here, one line
 * each. */
#include "host/cli.h"
#include "host/cli_text.h"
#include "host/cli_watch.h"

int lp_cli_score(int argc, char **argv);

const lp_cli_command lp_cli_commands[] = {
    {"run", lp_cli_run,
     "run a chain: run CONFIG [--resume] [--only STAGE] "
     "[--set KEY=VALUE]... [--quiet]"},
    {"validate", lp_cli_validate,
     "check a chain without running it: "
     "validate CONFIG [--set KEY=VALUE]..."},
    {"plugins", lp_cli_plugins,
     "list the plugins found on the plugin path: "
     "plugins [CONFIG]"},
    {"keygen", lp_cli_keygen,
     "print a CURVE key pair for a config's curve "
     "group"},
    {"worker", lp_cli_worker,
     "run one stage of a running host's chain: "
     "worker --connect ENDPOINT --stage NAME"},
    {"watch", lp_cli_watch,
     "live view of a run's metrics: watch "
     "ENDPOINT|RUN_DIR [--topic RUN[/STAGE]]"},
    {"tokenizer", lp_cli_tokenizer,
     "byte-level BPE: tokenizer "
     "train|encode|decode|info"},
    {"data", lp_cli_data, "datasets: data synth|shard|check"},
    {"eval", lp_cli_eval,
     "exact match of a model on task files: eval "
     "--model DIR --tasks FILE"},
    {"generate", lp_cli_generate,
     "a model's answer, streamed: generate --model DIR "
     "--prompt TEXT|--instruction TEXT"},
    {"chat", lp_cli_chat, "talk to a model: chat --model DIR"},
    {"score", lp_cli_score,
     "reward-model scores: score --model DIR "
     "(--prompt TEXT --response TEXT... | --pairs FILE)"},
    {0, 0, 0},
};
