// A GoogleTest fixture for the coordinator's unit tests: a Coordinator over a
// real SQLite store on disk and a fake clock, in a directory of its own per
// test (removed afterwards). Open() (re)opens the store and the coordinator on
// the same directory, which is how tests simulate a restart.
//
// A test fixture derives from it, owns its catalog (returned by catalog()),
// sets options_ / store_options_ in its SetUp after calling
// CoordinatorFixture::SetUp(), then calls Open(). AfterOpen() runs after each
// successful Open (e.g. to register workers again).
#ifndef PROCTOR_COORDINATOR_COORDINATOR_FIXTURE_H_
#define PROCTOR_COORDINATOR_COORDINATOR_FIXTURE_H_

#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "coordinator/coordinator.h"
#include "coordinator/store/sqlite_store.h"
#include "eval/catalog.h"
#include "gtest/gtest.h"

namespace proctor::coordinator {

class CoordinatorFixture : public ::testing::Test {
 protected:
  virtual eval::Catalog* catalog() = 0;
  virtual void AfterOpen() {}

  void SetUp() override {
    const ::testing::UnitTest* t = ::testing::UnitTest::GetInstance();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("coordinator_fixture_", getpid(), "_", t->current_test_suite()->name(), "_",
                        t->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    coordinator_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    coordinator_.reset();
    store_.reset();
    auto store = SqliteStore::Open((dir_ / "store.db").string(), store_options_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto c = Coordinator::Create(store_.get(), catalog(), &clock_, nullptr, options_);
    ASSERT_TRUE(c.ok()) << c.status();
    coordinator_ = *std::move(c);
    AfterOpen();
  }

  std::filesystem::path dir_;
  FakeClockForTest clock_;
  CoordinatorOptions options_;
  SqliteStoreOptions store_options_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<Coordinator> coordinator_;
};

}  // namespace proctor::coordinator

#endif  // PROCTOR_COORDINATOR_COORDINATOR_FIXTURE_H_
