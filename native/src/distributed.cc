// torch.distributed's c10d, bound thinly: a TCPStore rendezvous (rank 0 hosts it), ProcessGroupGloo for CPU
// collectives, and c10d's Reducer (DistributedDataParallel's engine) for gradients all-reduced in buckets from autograd
// hooks while the backward pass goes on. Collectives run to completion (Work::wait) on the calling thread; their errors
// and timeouts become JS errors. ProcessGroupNCCL for CUDA tensors is compiled in when the libtorch has CUDA and the
// CUDA toolkit's and NCCL's headers are found (find-libtorch.cjs defines DSDNET_WITH_NCCL).
#include "distributed.h"

#ifdef DSDNET_WITH_GLOO
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#ifdef DSDNET_WITH_NCCL
#define USE_C10D_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#define DSDNET_C10D_COMPAT
#include "compat.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "handles.h"

namespace dsd {
namespace {

const napi_type_tag kStoreTag = {0x6473646e65747374ULL, 0x6f72653030303031ULL};
const napi_type_tag kGroupTag = {0x6473646e65746772ULL, 0x6f75703030303031ULL};
const napi_type_tag kReducerTag = {0x6473646e65747265ULL, 0x6475636572303031ULL};

struct StoreHolder {
  c10::intrusive_ptr<c10d::Store> store;
};

struct GroupHolder {
  c10::intrusive_ptr<c10d::ProcessGroup> group;
};

struct ReducerHolder {
  std::unique_ptr<c10d::Reducer> reducer;  // removes its autograd hooks when destroyed; keeps the group alive
};

template <typename T>
T* holder(const Napi::Value& value, const napi_type_tag& tag, const char* what) {
  if (!value.IsExternal() || !value.As<Napi::External<T>>().CheckTypeTag(&tag)) throw Napi::TypeError::New(value.Env(), std::string("expected ") + what);
  return value.As<Napi::External<T>>().Data();
}

std::chrono::milliseconds millis(const Napi::Value& value) {
  return std::chrono::milliseconds(static_cast<int64_t>(value.As<Napi::Number>().DoubleValue()));
}

std::vector<at::Tensor> tensorList(const Napi::Value& value, const char* what, bool contiguous = true) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + ": expected an array of tensors");
  auto array = value.As<Napi::Array>();
  std::vector<at::Tensor> tensors;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    const at::Tensor& t = unwrap(array.Get(i), what);
    if (contiguous && !t.is_contiguous()) throw Napi::Error::New(value.Env(), std::string(what) + ": tensors must be contiguous");
    tensors.push_back(t);
  }
  return tensors;
}

// newTCPStore(host, port, worldSize, isServer, timeoutMs)
Napi::Value NewTCPStore(const Napi::CallbackInfo& info) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(info[1].As<Napi::Number>().Uint32Value());
  options.numWorkers = static_cast<std::size_t>(info[2].As<Napi::Number>().Uint32Value());
  options.isServer = info[3].As<Napi::Boolean>().Value();
  options.waitWorkers = false;
  options.timeout = millis(info[4]);
  compat::useClassicServer(options);
  auto store = c10::make_intrusive<c10d::TCPStore>(info[0].As<Napi::String>().Utf8Value(), options);
  auto external = Napi::External<StoreHolder>::New(info.Env(), new StoreHolder{store}, [](Napi::BasicEnv, StoreHolder* h) { delete h; });
  external.TypeTag(&kStoreTag);
  return external;
}

// storeSet(store, key, value) and storeGet(store, key): strings, for rendezvous beyond c10d's own.
Napi::Value StoreSet(const Napi::CallbackInfo& info) {
  auto* h = holder<StoreHolder>(info[0], kStoreTag, "a store");
  std::string value = info[2].As<Napi::String>().Utf8Value();
  h->store->set(info[1].As<Napi::String>().Utf8Value(), std::vector<uint8_t>(value.begin(), value.end()));
  return info.Env().Undefined();
}

Napi::Value StoreGet(const Napi::CallbackInfo& info) {
  auto* h = holder<StoreHolder>(info[0], kStoreTag, "a store");
  auto bytes = h->store->get(info[1].As<Napi::String>().Utf8Value());
  return Napi::String::New(info.Env(), std::string(bytes.begin(), bytes.end()));
}

Napi::Value wrapGroup(Napi::Env env, c10::intrusive_ptr<c10d::ProcessGroup> group) {
  auto external = Napi::External<GroupHolder>::New(env, new GroupHolder{std::move(group)}, [](Napi::BasicEnv, GroupHolder* h) { delete h; });
  external.TypeTag(&kGroupTag);
  return external;
}

// newGlooGroup(store, rank, size, timeoutMs, hostname)
Napi::Value NewGlooGroup(const Napi::CallbackInfo& info) {
  auto* store = holder<StoreHolder>(info[0], kStoreTag, "a store");
  int rank = info[1].As<Napi::Number>().Int32Value();
  int size = info[2].As<Napi::Number>().Int32Value();
  auto options = c10d::ProcessGroupGloo::Options::create(millis(info[3]));
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(info[4].As<Napi::String>().Utf8Value()));
  options->threads = 2;
  return wrapGroup(info.Env(), compat::processGroup(store->store, rank, size, c10::make_intrusive<c10d::ProcessGroupGloo>(store->store, rank, size, options), at::kCPU));
}

#ifdef DSDNET_WITH_NCCL
// newNcclGroup(store, rank, size, timeoutMs): collectives on CUDA tensors, each rank on the GPU its tensors live on
// (cuda:LOCAL_RANK by convention). The communicators are created on the first collective, as in PyTorch.
Napi::Value NewNcclGroup(const Napi::CallbackInfo& info) {
  auto* store = holder<StoreHolder>(info[0], kStoreTag, "a store");
  int rank = info[1].As<Napi::Number>().Int32Value();
  int size = info[2].As<Napi::Number>().Int32Value();
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = millis(info[3]);
  return wrapGroup(info.Env(), compat::processGroup(store->store, rank, size, c10::make_intrusive<c10d::ProcessGroupNCCL>(store->store, rank, size, options), at::kCUDA));
}
#endif

c10d::ReduceOp reduceOp(const Napi::Value& value) {
  std::string name = value.As<Napi::String>().Utf8Value();
  if (name == "sum") return c10d::ReduceOp::SUM;
  if (name == "product") return c10d::ReduceOp::PRODUCT;
  if (name == "min") return c10d::ReduceOp::MIN;
  if (name == "max") return c10d::ReduceOp::MAX;
  throw Napi::Error::New(value.Env(), "unknown reduce op '" + name + "' (sum, product, min or max)");
}

// allReduce(group, tensors, op): in place, every rank ends with the reduction.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  auto* g = holder<GroupHolder>(info[0], kGroupTag, "a process group");
  auto tensors = tensorList(info[1], "allReduce");
  c10d::AllreduceOptions options;
  options.reduceOp = reduceOp(info[2]);
  g->group->allreduce(tensors, options)->wait();
  return info.Env().Undefined();
}

// broadcast(group, tensors, root): in place, every rank ends with root's values.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  auto* g = holder<GroupHolder>(info[0], kGroupTag, "a process group");
  auto tensors = tensorList(info[1], "broadcast");
  c10d::BroadcastOptions options;
  options.rootRank = info[2].As<Napi::Number>().Int32Value();
  g->group->broadcast(tensors, options)->wait();
  return info.Env().Undefined();
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  auto* g = holder<GroupHolder>(info[0], kGroupTag, "a process group");
  g->group->barrier()->wait();
  return info.Env().Undefined();
}

// newReducer(group, parameters, bucketBytes, findUnusedParameters): buckets as DistributedDataParallel forms them (a
// first small bucket, then up to bucketBytes each, in reverse parameter order, the order backward produces gradients).
Napi::Value NewReducer(const Napi::CallbackInfo& info) {
  auto* g = holder<GroupHolder>(info[0], kGroupTag, "a process group");
  auto params = tensorList(info[1], "newReducer", false);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!params[i].requires_grad() || !params[i].is_leaf()) throw Napi::Error::New(info.Env(), "newReducer: parameter " + std::to_string(i) + " is not a leaf that requires gradients");
  }
  auto bucketBytes = static_cast<size_t>(info[2].As<Napi::Number>().Int64Value());
  bool findUnused = info[3].As<Napi::Boolean>().Value();
  std::vector<bool> sparse(params.size(), false);
  auto [indices, limits] = c10d::compute_bucket_assignment_by_size(params, {static_cast<size_t>(c10d::kDefaultFirstBucketBytes), bucketBytes}, sparse);
  std::reverse(indices.begin(), indices.end());
  std::reverse(limits.begin(), limits.end());
  auto reducer = std::make_unique<c10d::Reducer>(params, std::move(indices), std::move(limits), g->group, sparse, static_cast<int64_t>(bucketBytes), findUnused,
                                                 /*gradient_as_bucket_view=*/false, std::unordered_map<size_t, std::string>{}, c10d::kDefaultFirstBucketBytes);
  auto external = Napi::External<ReducerHolder>::New(info.Env(), new ReducerHolder{std::move(reducer)}, [](Napi::BasicEnv, ReducerHolder* h) { delete h; });
  external.TypeTag(&kReducerTag);
  return external;
}

// reducerPrepare(reducer, outputs): arms the hooks for the next backward pass from these outputs. Every rank calls it
// at the same step; the first time after the first step, the buckets are re-formed in the order gradients arrived.
Napi::Value ReducerPrepare(const Napi::CallbackInfo& info) {
  auto* h = holder<ReducerHolder>(info[0], kReducerTag, "a reducer");
  auto outputs = tensorList(info[1], "reducerPrepare", false);
  h->reducer->rebuild_buckets();
  h->reducer->prepare_for_backward(outputs);
  return info.Env().Undefined();
}

// sumGradientOverRanks(group, tensor): from now on, the gradient that reaches `tensor` in a backward pass is replaced
// by its sum over the ranks (the backward of a differentiable all-reduce, as torch.distributed.nn's). Every rank's
// backward meets these hooks in the same order, so their collectives match.
Napi::Value SumGradientOverRanks(const Napi::CallbackInfo& info) {
  auto* g = holder<GroupHolder>(info[0], kGroupTag, "a process group");
  at::Tensor tensor = unwrap(info[1], "sumGradientOverRanks");
  if (!tensor.requires_grad()) throw Napi::Error::New(info.Env(), "sumGradientOverRanks: the tensor does not require gradients");
  auto group = g->group;
  tensor.register_hook([group](const at::Tensor& grad) {
    std::vector<at::Tensor> summed{grad.clone(at::MemoryFormat::Contiguous)};
    group->allreduce(summed)->wait();
    return summed[0];
  });
  return info.Env().Undefined();
}

}  // namespace

void registerDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("hasGloo", Napi::Boolean::New(env, true));
#ifdef DSDNET_WITH_NCCL
  exports.Set("hasNccl", Napi::Boolean::New(env, true));
  exports.Set("newNcclGroup", Napi::Function::New(env, entry<NewNcclGroup>, "newNcclGroup"));
#else
  exports.Set("hasNccl", Napi::Boolean::New(env, false));
#endif
  exports.Set("newTCPStore", Napi::Function::New(env, entry<NewTCPStore>, "newTCPStore"));
  exports.Set("storeSet", Napi::Function::New(env, entry<StoreSet>, "storeSet"));
  exports.Set("storeGet", Napi::Function::New(env, entry<StoreGet>, "storeGet"));
  exports.Set("newGlooGroup", Napi::Function::New(env, entry<NewGlooGroup>, "newGlooGroup"));
  exports.Set("allReduce", Napi::Function::New(env, entry<AllReduce>, "allReduce"));
  exports.Set("broadcast", Napi::Function::New(env, entry<Broadcast>, "broadcast"));
  exports.Set("barrier", Napi::Function::New(env, entry<Barrier>, "barrier"));
  exports.Set("newReducer", Napi::Function::New(env, entry<NewReducer>, "newReducer"));
  exports.Set("reducerPrepare", Napi::Function::New(env, entry<ReducerPrepare>, "reducerPrepare"));
  exports.Set("sumGradientOverRanks", Napi::Function::New(env, entry<SumGradientOverRanks>, "sumGradientOverRanks"));
}

}  // namespace dsd

#else

namespace dsd {
// Built without Gloo's headers: the collectives are absent and say why.
void registerDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("hasGloo", Napi::Boolean::New(env, false));
  exports.Set("hasNccl", Napi::Boolean::New(env, false));
}
}  // namespace dsd

#endif
