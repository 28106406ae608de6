// JS handles to libtorch tensors.
// A handle is a type-tagged napi External that owns one at::Tensor reference. `dispose` drops the reference at once
// (deterministic release in loops); the GC finalizer drops it otherwise. Storage bytes are reported to V8 as external
// memory so that the GC sees the real pressure of tensors it cannot see.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

namespace dsd {

Napi::Value wrap(Napi::Env env, at::Tensor tensor);

// Throws a TypeError naming `what` when `value` is not a live tensor handle.
const at::Tensor& unwrap(const Napi::Value& value, const char* what);

bool isHandle(const Napi::Value& value);

// Random generators of their own (not libtorch's default one), for ops that take a `Generator?` argument.
Napi::Value wrapGenerator(Napi::Env env, at::Generator generator);
bool isGenerator(const Napi::Value& value);
at::Generator unwrapGenerator(const Napi::Value& value);

void registerHandles(Napi::Env env, Napi::Object exports);

}  // namespace dsd
