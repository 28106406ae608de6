#include "handles.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <string>

namespace dsd {
namespace {

const napi_type_tag kTensorTag = {0x6473646e65745f74ULL, 0x656e736f72686e64ULL};

struct Holder {
  at::Tensor tensor;
  int64_t accountedBytes = 0;
};

// Counted per thread: a tensor handle lives and dies on its JS environment's thread (main or worker).
thread_local int64_t liveTensors = 0;

int64_t storageBytes(const at::Tensor& tensor) {
  return tensor.defined() && tensor.has_storage() ? static_cast<int64_t>(tensor.storage().nbytes()) : 0;
}

// Returns what the holder accounted, so the caller can give it back to V8.
int64_t release(Holder* holder) {
  if (!holder->tensor.defined()) return 0;
  holder->tensor = at::Tensor();
  --liveTensors;
  int64_t bytes = holder->accountedBytes;
  holder->accountedBytes = 0;
  return bytes;
}

Holder* holderOf(const Napi::Value& value) {
  if (!value.IsExternal()) return nullptr;
  auto external = value.As<Napi::External<Holder>>();
  if (!external.CheckTypeTag(&kTensorTag)) return nullptr;
  return external.Data();
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Holder* holder = info.Length() > 0 ? holderOf(info[0]) : nullptr;
  if (holder == nullptr) throw Napi::TypeError::New(info.Env(), "dispose: expected a tensor handle");
  int64_t bytes = release(holder);
  if (bytes != 0) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -bytes);
  return info.Env().Undefined();
}

// Tells V8 about a tensor's memory once the garbage collector owns its handle (created or returned outside any
// scope, or kept). Scoped tensors are released deterministically and go unreported: reporting every short-lived
// handle (views included) made V8 run a full collection on almost every training step.
Napi::Value Account(const Napi::CallbackInfo& info) {
  Holder* holder = info.Length() > 0 ? holderOf(info[0]) : nullptr;
  if (holder == nullptr) throw Napi::TypeError::New(info.Env(), "account: expected a tensor handle");
  if (!holder->tensor.defined() || holder->accountedBytes != 0) return info.Env().Undefined();
  holder->accountedBytes = storageBytes(holder->tensor);
  if (holder->accountedBytes != 0) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), holder->accountedBytes);
  return info.Env().Undefined();
}

Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  Holder* holder = info.Length() > 0 ? holderOf(info[0]) : nullptr;
  if (holder == nullptr) throw Napi::TypeError::New(info.Env(), "isDisposed: expected a tensor handle");
  return Napi::Boolean::New(info.Env(), !holder->tensor.defined());
}

Napi::Value LiveTensors(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(liveTensors));
}

const napi_type_tag kGeneratorTag = {0x6473646e65745f67ULL, 0x656e657261746f72ULL};

Napi::Value NewGenerator(const Napi::CallbackInfo& info) {
  double seed = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(seed >= 0 && seed == std::trunc(seed) && seed <= 9007199254740992.0)) {
    throw Napi::RangeError::New(info.Env(), "newGenerator: expected a non-negative integer seed");
  }
  return wrapGenerator(info.Env(), at::detail::createCPUGenerator(static_cast<uint64_t>(seed)));
}

}  // namespace

Napi::Value wrapGenerator(Napi::Env env, at::Generator generator) {
  auto external = Napi::External<at::Generator>::New(env, new at::Generator(std::move(generator)),
                                                     [](Napi::BasicEnv, at::Generator* g) { delete g; });
  external.TypeTag(&kGeneratorTag);
  return external;
}

bool isGenerator(const Napi::Value& value) {
  return value.IsExternal() && value.As<Napi::External<at::Generator>>().CheckTypeTag(&kGeneratorTag);
}

at::Generator unwrapGenerator(const Napi::Value& value) {
  if (!isGenerator(value)) throw Napi::TypeError::New(value.Env(), "expected a generator");
  return *value.As<Napi::External<at::Generator>>().Data();
}

Napi::Value wrap(Napi::Env env, at::Tensor tensor) {
  if (!tensor.defined()) return env.Null();
  auto* holder = new Holder{std::move(tensor), 0};
  ++liveTensors;
  auto external = Napi::External<Holder>::New(env, holder, [](Napi::BasicEnv finalizeEnv, Holder* h) {
    int64_t bytes = release(h);
    if (bytes != 0) Napi::MemoryManagement::AdjustExternalMemory(finalizeEnv, -bytes);
    delete h;
  });
  external.TypeTag(&kTensorTag);
  return external;
}

bool isHandle(const Napi::Value& value) { return holderOf(value) != nullptr; }

const at::Tensor& unwrap(const Napi::Value& value, const char* what) {
  Holder* holder = holderOf(value);
  if (holder == nullptr) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected a tensor");
  if (!holder->tensor.defined()) throw Napi::Error::New(value.Env(), std::string(what) + ": the tensor was disposed");
  return holder->tensor;
}

void registerHandles(Napi::Env env, Napi::Object exports) {
  exports.Set("dispose", Napi::Function::New(env, Dispose, "dispose"));
  exports.Set("isDisposed", Napi::Function::New(env, IsDisposed, "isDisposed"));
  exports.Set("account", Napi::Function::New(env, Account, "account"));
  exports.Set("newGenerator", Napi::Function::New(env, NewGenerator, "newGenerator"));
  exports.Set("liveTensors", Napi::Function::New(env, LiveTensors, "liveTensors"));
}

}  // namespace dsd
