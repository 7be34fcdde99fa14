#include "worker/engine/model.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace proctor::engine {

absl::StatusOr<std::string> ResolveModelPath(const std::string& path,
                                             const std::vector<std::string>& allowed_roots) {
  if (path.empty()) return absl::FailedPreconditionError("model reference has no path or name");
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("model file ", path, " cannot be resolved: ", ec.message()));
  }
  if (allowed_roots.empty()) return canonical.string();
  for (const std::string& root : allowed_roots) {
    const std::filesystem::path r = std::filesystem::weakly_canonical(root, ec);
    if (ec) continue;
    const auto rel = canonical.lexically_relative(r);
    if (!rel.empty() && *rel.begin() != "..") return canonical.string();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("model path ", path, " is outside the allowed model roots"));
}

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  m->path_ = path;
  std::error_code ec;
  const bool is_dir = std::filesystem::is_directory(path, ec);
  if (is_dir || absl::EndsWith(path, ".safetensors")) {
    m->format_ = "safetensors";
    const std::filesystem::path dir =
        is_dir ? std::filesystem::path(path) : std::filesystem::path(path).parent_path();
    const std::string config_path = (dir / "config.json").string();
    std::ifstream in(config_path, std::ios::binary);
    if (!in) {
      return absl::FailedPreconditionError(absl::StrCat("cannot read ", config_path));
    }
    const std::string json((std::istreambuf_iterator<char>(in)), {});
    PROCTOR_ASSIGN_OR_RETURN(ModelConfig config, ConfigFromHfJson(json, config_path));
    PROCTOR_ASSIGN_OR_RETURN(m->safetensors_, SafetensorsCheckpoint::Open(path));
    auto w = WeightsFromSafetensors(*m->safetensors_, config);
    if (!w.ok())
      return absl::FailedPreconditionError(absl::StrCat(path, ": ", w.status().message()));
    m->weights_ = std::move(*w);
    const std::filesystem::path tok = dir / "tokenizer.json";
    if (std::filesystem::is_regular_file(tok, ec)) {
      PROCTOR_ASSIGN_OR_RETURN(m->tokenizer_, Tokenizer::FromHfTokenizerJson(tok.string()));
      if (m->tokenizer_->vocab_size() > m->weights_.config.vocab_size) {
        return absl::FailedPreconditionError(
            absl::StrCat(tok.string(), " has ", m->tokenizer_->vocab_size(),
                         " tokens but the model only ", m->weights_.config.vocab_size));
      }
    }
    return m;
  }
  PROCTOR_ASSIGN_OR_RETURN(MappedFile map, MappedFile::Open(path));
  if (map.size() >= 4 && std::memcmp(map.data(), "GGUF", 4) == 0) {
    m->format_ = "gguf";
    map = MappedFile();
    PROCTOR_ASSIGN_OR_RETURN(m->gguf_, GgufFile::Open(path));
    PROCTOR_ASSIGN_OR_RETURN(m->weights_, WeightsFromGguf(*m->gguf_));
    PROCTOR_ASSIGN_OR_RETURN(m->tokenizer_, Tokenizer::FromGguf(*m->gguf_));
    if (m->tokenizer_->vocab_size() != m->weights_.config.vocab_size) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": tokenizer has ", m->tokenizer_->vocab_size(),
                       " tokens but the model ", m->weights_.config.vocab_size));
    }
    return m;
  }
  m->format_ = "llama2c";
  m->bin_ = std::move(map);
  PROCTOR_ASSIGN_OR_RETURN(m->weights_, WeightsFromLlama2c(m->bin_));
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  for (const std::string& name :
       {std::string("tokenizer.bin"), absl::StrCat("tok", m->weights_.config.vocab_size, ".bin")}) {
    const std::filesystem::path p = dir / name;
    if (std::filesystem::is_regular_file(p, ec)) {
      PROCTOR_ASSIGN_OR_RETURN(
          m->tokenizer_, Tokenizer::FromLlama2cFile(p.string(), m->weights_.config.vocab_size));
      break;
    }
  }
  return m;
}

}  // namespace proctor::engine
