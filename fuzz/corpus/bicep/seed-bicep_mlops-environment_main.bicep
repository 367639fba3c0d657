// The shape of the MLOps environment: storage, key vault, log analytics + app insights,
// container registry and an Azure ML workspace that uses them.

@description('Base name of the resources; letters and digits only.')
@minLength(3)
@maxLength(10)
param baseName string

@description('Where the resources go.')
param location string = resourceGroup().location

@description('Storage redundancy.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
])
param storageSku string = 'Standard_LRS'

@description('Days the log analytics workspace keeps data.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@secure()
@description('Object id that gets access to the key vault.')
param adminObjectId string = ''

var suffix = uniqueString(resourceGroup().id)
var storageName = 'st${toLower(baseName)}${suffix}'
var tags = {
  project: 'mlops'
  environment: baseName
}

resource storage 'Microsoft.Storage/storageAccounts@2023-01-01' = {
  name: take(storageName, 24)
  location: location
  sku: {
    name: storageSku
  }
  kind: 'StorageV2'
  tags: tags
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-02-01' = {
  name: 'kv-${baseName}-${take(suffix, 6)}'
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    accessPolicies: empty(adminObjectId) ? [] : [
      {
        tenantId: subscription().tenantId
        objectId: adminObjectId
        permissions: {
          secrets: [
            'get'
            'list'
          ]
        }
      }
    ]
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: 'log-${baseName}'
  location: location
  properties: {
    retentionInDays: retentionInDays
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${baseName}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-01-01-preview' = {
  name: 'cr${toLower(baseName)}${suffix}'
  location: location
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: true
  }
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2023-04-01' = {
  name: 'mlw-${baseName}'
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  tags: tags
  properties: {
    friendlyName: '${baseName} workspace'
    storageAccount: storage.id
    keyVault: keyVault.id
    applicationInsights: insights.id
    containerRegistry: registry.id
  }
}

output workspaceName string = workspace.name
output storageAccountId string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output workspacePrincipalId string = workspace.identity.principalId
output instrumentationKey string = insights.properties.InstrumentationKey
