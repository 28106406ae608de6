// The dsdnet native addon: a thin binding of libtorch tensors, ops and autograd. Nothing model-specific lives here.
#include <napi.h>

#include "autocast.h"
#include "autograd.h"
#include "dispatch.h"
#include "distributed.h"
#include "handles.h"
#include "runtime.h"
#include "tensors.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  dsd::registerHandles(env, exports);
  dsd::registerDispatch(env, exports);
  dsd::registerTensors(env, exports);
  dsd::registerAutograd(env, exports);
  dsd::registerAutocast(env, exports);
  dsd::registerRuntime(env, exports);
  dsd::registerDistributed(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(dsdnet_native, Init)
