{
  "targets": [
    {
      "target_name": "dsdnet_native",
      "sources": [
        "src/addon.cc",
        "src/handles.cc",
        "src/dispatch.cc",
        "src/tensors.cc",
        "src/autograd.cc",
        "src/autocast.cc",
        "src/runtime.cc",
        "src/distributed.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node find-libtorch.cjs include)"
      ],
      "libraries": ["<!@(node find-libtorch.cjs libs)"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-idirafter", "<(module_root_dir)/compat", "-fexceptions", "-frtti", "-Wno-unused-parameter", "<!@(node find-libtorch.cjs cflags)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"]
    }
  ]
}
