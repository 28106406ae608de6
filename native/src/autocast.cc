// Mixed precision: libtorch's autocast, the dispatcher key that runs listed ops (convolutions, matmuls) in a lower
// precision and others (losses, reductions) in fp32. It is state of the calling thread, like grad mode; the binding
// only switches it, so which op runs in which precision stays libtorch's policy.
#include "autocast.h"

#include <ATen/autocast_mode.h>

#include <string>

#include "compat.h"
#include "errors.h"

namespace dsd {
namespace {

at::DeviceType deviceType(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "autocast: expected a device type ('cpu' or 'cuda')");
  std::string device = info[0].As<Napi::String>().Utf8Value();
  if (device != "cpu" && device != "cuda") throw Napi::RangeError::New(info.Env(), "autocast: unknown device type '" + device + "'");
  return device == "cuda" ? at::kCUDA : at::kCPU;
}

Napi::Value state(Napi::Env env, bool enabled, at::ScalarType dtype) {
  auto out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Boolean::New(env, enabled));
  out.Set(1u, Napi::Number::New(env, static_cast<int>(dtype)));
  return out;
}

// autocastState(deviceType) -> [enabled, dtypeCode]
Napi::Value AutocastState(const Napi::CallbackInfo& info) {
  const auto device = deviceType(info);
  return state(info.Env(), compat::autocastEnabled(device), compat::autocastDtype(device));
}

// setAutocast(deviceType, enabled, dtypeCode) -> the previous [enabled, dtypeCode]
Napi::Value SetAutocast(const Napi::CallbackInfo& info) {
  const auto device = deviceType(info);
  if (info.Length() < 3 || !info[1].IsBoolean() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "setAutocast(deviceType, enabled, dtypeCode): bad arguments");
  }
  const int code = info[2].As<Napi::Number>().Int32Value();
  if (code < 0 || code >= static_cast<int>(at::ScalarType::NumOptions)) {
    throw Napi::RangeError::New(info.Env(), "setAutocast: unknown scalar type code " + std::to_string(code));
  }
  const auto dtype = static_cast<at::ScalarType>(code);
  const bool enabled = info[1].As<Napi::Boolean>().Value();
  Napi::Value previous = AutocastState(info);
  compat::setAutocast(device, enabled, dtype);
  return previous;
}

// Autocast regions nest; weights cast inside the outermost region are cached until it ends, as torch.autocast does.
Napi::Value EnterAutocastRegion(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::autocast::increment_nesting());
}

Napi::Value ExitAutocastRegion(const Napi::CallbackInfo& info) {
  const int depth = at::autocast::decrement_nesting();
  if (depth == 0) at::autocast::clear_cache();
  return Napi::Number::New(info.Env(), depth);
}

}  // namespace

void registerAutocast(Napi::Env env, Napi::Object exports) {
  exports.Set("autocastState", Napi::Function::New(env, entry<AutocastState>, "autocastState"));
  exports.Set("setAutocast", Napi::Function::New(env, entry<SetAutocast>, "setAutocast"));
  exports.Set("enterAutocastRegion", Napi::Function::New(env, entry<EnterAutocastRegion>, "enterAutocastRegion"));
  exports.Set("exitAutocastRegion", Napi::Function::New(env, entry<ExitAutocastRegion>, "exitAutocastRegion"));
}

}  // namespace dsd
