// Debian's libtorch-dev 1.13 ships c10d's reducer.hpp but not the distributed-autograd header it includes. The
// Reducer only holds a shared_ptr to a distributed-autograd context and names its gradient-callback type, so these
// two declarations are all it needs. Searched after the system headers (-idirafter): a libtorch that ships the real
// header uses it.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};

using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace autograd
}  // namespace distributed
}  // namespace torch
