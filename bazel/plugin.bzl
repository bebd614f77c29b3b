"""lp_plugin: a stage plugin shared object that exports only its entry point."""

def lp_plugin(name, srcs, deps = [], copts = [], **kwargs):
    """Builds NAME.so; every symbol but lp_plugin_entry is local.

    The version script also hides the SDK code linked statically into the
    plugin, which -fvisibility=hidden alone would not (the SDK is compiled
    once for everybody).
    """
    native.cc_binary(
        name = name + ".so",
        srcs = srcs,
        deps = deps + ["//sdk:api"],
        copts = copts + ["-fvisibility=hidden"],
        linkshared = 1,
        additional_linker_inputs = ["//bazel:plugin.lds"],
        linkopts = ["-Wl,--version-script=$(location //bazel:plugin.lds)"],
        **kwargs
    )
