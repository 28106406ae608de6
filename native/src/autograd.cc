// Autograd: backward, gradients of leaves, requires-grad flags and the thread's grad mode.
#include "autograd.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>

#include <vector>

#include "errors.h"
#include "handles.h"

namespace dsd {
namespace {

bool boolArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBoolean()) throw Napi::TypeError::New(info.Env(), std::string(what) + ": expected a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// backward(roots[], grads[] (tensor or null per root), retainGraph, createGraph)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  if (info.Length() < 4 || !info[0].IsArray() || !info[1].IsArray()) {
    throw Napi::TypeError::New(info.Env(), "backward(roots, grads, retainGraph, createGraph): bad arguments");
  }
  auto roots = info[0].As<Napi::Array>();
  auto grads = info[1].As<Napi::Array>();
  if (grads.Length() != roots.Length()) throw Napi::RangeError::New(info.Env(), "backward: one gradient per root");
  std::vector<at::Tensor> rootTensors, gradTensors;
  for (uint32_t i = 0; i < roots.Length(); ++i) {
    rootTensors.push_back(unwrap(roots.Get(i), "backward"));
    Napi::Value g = grads.Get(i);
    gradTensors.push_back(g.IsNull() || g.IsUndefined() ? at::Tensor() : unwrap(g, "backward gradient"));
  }
  bool retain = boolArg(info, 2, "backward retainGraph");
  bool create = boolArg(info, 3, "backward createGraph");
  torch::autograd::backward(rootTensors, gradTensors, retain, create);
  return info.Env().Undefined();
}

Napi::Value Grad(const Napi::CallbackInfo& info) { return wrap(info.Env(), unwrap(info[0], "grad").grad()); }

Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  const at::Tensor& tensor = unwrap(info[0], "setGrad");
  if (info.Length() < 2 || info[1].IsNull() || info[1].IsUndefined()) {
    tensor.mutable_grad() = at::Tensor();
  } else {
    const at::Tensor& grad = unwrap(info[1], "setGrad gradient");
    TORCH_CHECK(grad.sizes() == tensor.sizes(), "setGrad: gradient of shape ", grad.sizes(),
                " for a tensor of shape ", tensor.sizes());
    tensor.mutable_grad() = grad;
  }
  return info.Env().Undefined();
}

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), unwrap(info[0], "requiresGrad").requires_grad());
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  const at::Tensor& tensor = unwrap(info[0], "setRequiresGrad");
  bool flag = boolArg(info, 1, "setRequiresGrad");
  TORCH_CHECK(!flag || at::isFloatingType(tensor.scalar_type()),
              "only tensors of floating point dtype can require gradients, not ", tensor.scalar_type());
  const_cast<at::Tensor&>(tensor).set_requires_grad(flag);
  return info.Env().Undefined();
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), unwrap(info[0], "isLeaf").is_leaf());
}

Napi::Value GradFn(const Napi::CallbackInfo& info) {
  const auto& fn = unwrap(info[0], "gradFn").grad_fn();
  if (!fn) return info.Env().Null();
  return Napi::String::New(info.Env(), fn->name());
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled());
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  at::GradMode::set_enabled(boolArg(info, 0, "setGradEnabled"));
  return info.Env().Undefined();
}

}  // namespace

void registerAutograd(Napi::Env env, Napi::Object exports) {
  exports.Set("backward", Napi::Function::New(env, entry<Backward>, "backward"));
  exports.Set("grad", Napi::Function::New(env, entry<Grad>, "grad"));
  exports.Set("setGrad", Napi::Function::New(env, entry<SetGrad>, "setGrad"));
  exports.Set("requiresGrad", Napi::Function::New(env, entry<RequiresGrad>, "requiresGrad"));
  exports.Set("setRequiresGrad", Napi::Function::New(env, entry<SetRequiresGrad>, "setRequiresGrad"));
  exports.Set("isLeaf", Napi::Function::New(env, entry<IsLeaf>, "isLeaf"));
  exports.Set("gradFn", Napi::Function::New(env, entry<GradFn>, "gradFn"));
  exports.Set("isGradEnabled", Napi::Function::New(env, entry<IsGradEnabled>, "isGradEnabled"));
  exports.Set("setGradEnabled", Napi::Function::New(env, entry<SetGradEnabled>, "setGradEnabled"));
}

}  // namespace dsd
