// The uniform op binding: any ATen operator, called by schema through libtorch's dispatcher (the path TorchScript
// uses, autograd included). JS asks once for an operator handle by name and overload, then calls it with positional
// arguments; the schema drives the conversion of each argument and of the results. No op-specific C++ lives here.
#include "dispatch.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/jit_type.h>

#include <sstream>
#include <string>
#include <vector>

#include "errors.h"
#include "handles.h"

namespace dsd {
namespace {

// Operator ids are per thread: each JS environment (the main thread, every worker) runs on a thread of its own and
// looks its operators up itself, so no table is shared between threads and none needs a lock.
std::vector<c10::OperatorHandle>& operators() {
  thread_local std::vector<c10::OperatorHandle> ops;
  return ops;
}

const c10::OperatorHandle& operatorAt(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected an operator id");
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  if (id >= operators().size()) throw Napi::RangeError::New(info.Env(), "unknown operator id " + std::to_string(id));
  return operators()[id];
}

class ArgumentError {
 public:
  ArgumentError(const c10::FunctionSchema& schema, const c10::Argument& arg) : schema_(schema), arg_(arg) {}

  [[noreturn]] void raise(const Napi::Value& value, const std::string& expected) const {
    std::ostringstream out;
    out << schema_.name();
    if (!schema_.overload_name().empty()) out << "." << schema_.overload_name();
    out << ": argument '" << arg_.name() << "' expects " << expected << ", got " << describe(value);
    throw Napi::TypeError::New(value.Env(), out.str());
  }

 private:
  static std::string describe(const Napi::Value& value) {
    if (value.IsUndefined()) return "undefined";
    if (value.IsNull()) return "null";
    if (value.IsNumber()) return "the number " + value.ToString().Utf8Value();
    if (value.IsBoolean()) return "a boolean";
    if (value.IsString()) return "the string '" + value.As<Napi::String>().Utf8Value() + "'";
    if (value.IsArray()) return "an array";
    if (isHandle(value)) return "a tensor";
    if (isGenerator(value)) return "a generator";
    return "an object";
  }

  const c10::FunctionSchema& schema_;
  const c10::Argument& arg_;
};

int64_t toInt(const Napi::Value& value, const ArgumentError& err) {
  if (value.IsNumber()) {
    double d = value.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && d == std::trunc(d) && std::abs(d) <= 9007199254740992.0) return static_cast<int64_t>(d);
  } else if (value.IsBigInt()) {
    bool lossless = false;
    int64_t i = value.As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless) return i;
  } else if (value.IsBoolean()) {
    return value.As<Napi::Boolean>().Value() ? 1 : 0;
  }
  err.raise(value, "an integer");
}

double toDouble(const Napi::Value& value, const ArgumentError& err) {
  if (value.IsNumber()) return value.As<Napi::Number>().DoubleValue();
  if (value.IsBoolean()) return value.As<Napi::Boolean>().Value() ? 1.0 : 0.0;
  err.raise(value, "a number");
}

// A JS number becomes an integral Scalar when it holds an integer, as Python ints do, so integer tensors stay integral.
c10::IValue toScalar(const Napi::Value& value, const ArgumentError& err) {
  if (value.IsBoolean()) return c10::IValue(value.As<Napi::Boolean>().Value());
  if (value.IsNumber()) {
    double d = value.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && d == std::trunc(d) && std::abs(d) <= 9007199254740992.0) {
      return c10::IValue(static_cast<int64_t>(d));
    }
    return c10::IValue(d);
  }
  if (value.IsBigInt()) return c10::IValue(toInt(value, err));
  err.raise(value, "a number or boolean");
}

c10::IValue toIValue(const Napi::Value& value, const c10::TypePtr& type, const c10::Argument& arg,
                     const ArgumentError& err);

c10::IValue toList(const Napi::Value& value, const c10::ListTypePtr& listType, const c10::Argument& arg,
                   const ArgumentError& err) {
  const c10::TypePtr& element = listType->getElementType();
  const auto kind = element->kind();
  const bool isIntLike = kind == c10::TypeKind::IntType || kind == c10::TypeKind::SymIntType;
  // int[2] and friends accept one number for all positions, as in Python.
  if (!value.IsArray()) {
    if (arg.N() && (isIntLike || kind == c10::TypeKind::FloatType || kind == c10::TypeKind::BoolType) &&
        (value.IsNumber() || value.IsBoolean())) {
      auto array = Napi::Array::New(value.Env(), *arg.N());
      for (uint32_t i = 0; i < static_cast<uint32_t>(*arg.N()); ++i) array.Set(i, value);
      return toList(array, listType, arg, err);
    }
    err.raise(value, listType->str());
  }
  auto array = value.As<Napi::Array>();
  const uint32_t n = array.Length();
  if (isIntLike) {
    c10::List<int64_t> list;
    list.reserve(n);
    for (uint32_t i = 0; i < n; ++i) list.push_back(toInt(array.Get(i), err));
    return list;
  }
  if (kind == c10::TypeKind::FloatType) {
    c10::List<double> list;
    list.reserve(n);
    for (uint32_t i = 0; i < n; ++i) list.push_back(toDouble(array.Get(i), err));
    return list;
  }
  if (kind == c10::TypeKind::BoolType) {
    c10::List<bool> list;
    list.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      Napi::Value item = array.Get(i);
      if (!item.IsBoolean()) err.raise(item, "a boolean in " + listType->str());
      list.push_back(item.As<Napi::Boolean>().Value());
    }
    return list;
  }
  if (kind == c10::TypeKind::NumberType) {
    c10::impl::GenericList list(element);
    list.reserve(n);
    for (uint32_t i = 0; i < n; ++i) list.push_back(toScalar(array.Get(i), err));
    return list;
  }
  if (kind == c10::TypeKind::TensorType) {
    c10::List<at::Tensor> list;
    list.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      Napi::Value item = array.Get(i);
      if (!isHandle(item)) err.raise(item, "a tensor in Tensor[]");
      list.push_back(unwrap(item, "tensor list"));
    }
    return list;
  }
  if (kind == c10::TypeKind::OptionalType &&
      element->castRaw<c10::OptionalType>()->getElementType()->kind() == c10::TypeKind::TensorType) {
    c10::List<c10::optional<at::Tensor>> list;
    list.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      Napi::Value item = array.Get(i);
      if (item.IsNull() || item.IsUndefined()) {
        list.push_back(c10::nullopt);
      } else {
        if (!isHandle(item)) err.raise(item, "a tensor or null in Tensor?[]");
        list.push_back(unwrap(item, "tensor list"));
      }
    }
    return list;
  }
  err.raise(value, "a type this binding does not convert (" + listType->str() + ")");
}

c10::IValue toIValue(const Napi::Value& value, const c10::TypePtr& type, const c10::Argument& arg,
                     const ArgumentError& err) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType:
      if (!isHandle(value)) err.raise(value, "a tensor");
      return unwrap(value, arg.name().c_str());
    case c10::TypeKind::OptionalType:
      if (value.IsNull() || value.IsUndefined()) return c10::IValue();
      return toIValue(value, type->castRaw<c10::OptionalType>()->getElementType(), arg, err);
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
      return toInt(value, err);
    case c10::TypeKind::FloatType:
      return toDouble(value, err);
    case c10::TypeKind::BoolType:
      if (!value.IsBoolean()) err.raise(value, "a boolean");
      return value.As<Napi::Boolean>().Value();
    case c10::TypeKind::NumberType:
      return toScalar(value, err);
    case c10::TypeKind::StringType:
      if (!value.IsString()) err.raise(value, "a string");
      return value.As<Napi::String>().Utf8Value();
    case c10::TypeKind::DeviceObjType:
      if (!value.IsString()) err.raise(value, "a device string such as 'cpu' or 'cuda:0'");
      return c10::Device(value.As<Napi::String>().Utf8Value());
    case c10::TypeKind::ListType:
      return toList(value, type->cast<c10::ListType>(), arg, err);
    case c10::TypeKind::GeneratorType:
      if (!isGenerator(value)) err.raise(value, "a generator");
      return unwrapGenerator(value);
    default:
      err.raise(value, "a type this binding does not convert (" + type->str() + ")");
  }
}

Napi::Value fromIValue(Napi::Env env, const c10::IValue& value) {
  if (value.isTensor()) return wrap(env, value.toTensor());
  if (value.isNone()) return env.Null();
  if (value.isBool()) return Napi::Boolean::New(env, value.toBool());
  if (value.isInt()) return Napi::Number::New(env, static_cast<double>(value.toInt()));
  if (value.isDouble()) return Napi::Number::New(env, value.toDouble());
  if (value.isString()) return Napi::String::New(env, value.toStringRef());
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    auto array = Napi::Array::New(env, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) array.Set(static_cast<uint32_t>(i), fromIValue(env, elements[i]));
    return array;
  }
  if (value.isList()) {
    auto list = value.toListRef();
    auto array = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) array.Set(static_cast<uint32_t>(i), fromIValue(env, list[i]));
    return array;
  }
  throw Napi::Error::New(env, "the binding cannot return a value of type " + value.tagKind());
}

// Runs one operator; `keepResults` false drops what it returns (in-place ops return their input).
Napi::Value invoke(const Napi::CallbackInfo& info, bool keepResults) {
  const c10::OperatorHandle& op = operatorAt(info);
  const c10::FunctionSchema& schema = op.schema();
  const auto& params = schema.arguments();
  const size_t given = info.Length() - 1;
  if (given > params.size()) {
    std::ostringstream out;
    out << schema.name() << ": takes " << params.size() << " arguments, got " << given << " (" << schema << ")";
    throw Napi::TypeError::New(info.Env(), out.str());
  }
  torch::jit::Stack stack;
  stack.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const c10::Argument& arg = params[i];
    ArgumentError err(schema, arg);
    Napi::Value value = i < given ? info[i + 1] : info.Env().Undefined();
    if (value.IsUndefined()) {
      if (arg.default_value()) {
        stack.push_back(*arg.default_value());
        continue;
      }
      if (arg.type()->kind() != c10::TypeKind::OptionalType) err.raise(value, arg.type()->str());
    }
    stack.push_back(toIValue(value, arg.type(), arg, err));
  }
  op.callBoxed(&stack);
  if (!keepResults) return info.Env().Undefined();
  if (stack.empty()) return info.Env().Undefined();
  if (stack.size() == 1) return fromIValue(info.Env(), stack[0]);
  auto array = Napi::Array::New(info.Env(), stack.size());
  for (size_t i = 0; i < stack.size(); ++i) array.Set(static_cast<uint32_t>(i), fromIValue(info.Env(), stack[i]));
  return array;
}

Napi::Value FindOp(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    throw Napi::TypeError::New(info.Env(), "findOp(name, overload): expected two strings");
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info[1].As<Napi::String>().Utf8Value();
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) {
    throw Napi::Error::New(info.Env(), "libtorch has no operator " + name + (overload.empty() ? "" : "." + overload));
  }
  operators().push_back(*handle);
  return Napi::Number::New(info.Env(), static_cast<double>(operators().size() - 1));
}

Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  std::ostringstream out;
  out << operatorAt(info).schema();
  return Napi::String::New(info.Env(), out.str());
}

Napi::Value Call(const Napi::CallbackInfo& info) { return invoke(info, true); }
Napi::Value CallDiscard(const Napi::CallbackInfo& info) { return invoke(info, false); }

}  // namespace

void registerDispatch(Napi::Env env, Napi::Object exports) {
  exports.Set("findOp", Napi::Function::New(env, entry<FindOp>, "findOp"));
  exports.Set("opSchema", Napi::Function::New(env, entry<OpSchema>, "opSchema"));
  exports.Set("call", Napi::Function::New(env, entry<Call>, "call"));
  exports.Set("callDiscard", Napi::Function::New(env, entry<CallDiscard>, "callDiscard"));
}

}  // namespace dsd
